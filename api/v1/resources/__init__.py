"""One module per resource; each holds its pydantic schemas and a `router` (see api/v1/__init__.py)."""
