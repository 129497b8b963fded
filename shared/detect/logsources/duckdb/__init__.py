"""The local workspace: Log Analytics exports loaded into DuckDB, and an HTTP facade over them.

Submodules import DuckDB only when used; importing this package imports nothing.
"""
