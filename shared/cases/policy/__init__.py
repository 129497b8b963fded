"""The triage policy: declarative conditions that map a case to a severity and a named playbook."""
