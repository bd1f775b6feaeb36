"""Alembic migrations of the tryon catalog; shipped in the wheel and found through ``api.migrate``."""
