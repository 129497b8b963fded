"""The response steps' mechanisms: one module per step that needs more than a Graph call."""
