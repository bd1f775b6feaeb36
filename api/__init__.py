"""The tryon service: FastAPI app, catalog, Celery app and tasks, storage.

Importing this package has no side effects: settings are read only when an app or worker is built.
"""
