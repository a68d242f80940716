"""Reports: JSON and HTML renderers of results (no computation)."""
