"""Detection: rules become findings, over Log Analytics or the embedded DuckDB workspace."""
