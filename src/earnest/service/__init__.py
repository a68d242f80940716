"""The prediction service (FastAPI) (issue 8)."""
