"""The response engine: playbooks, their steps, guardrails, retries and client-side rate limits."""
