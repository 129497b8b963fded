"""Where rules run: one interface, two backends (Log Analytics and the local DuckDB workspace)."""
