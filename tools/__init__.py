"""Developer tooling for Tokenwarden (not shipped in the package)."""
