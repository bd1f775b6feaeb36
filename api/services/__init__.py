"""Business rules, free of HTTP: routes call these with a session, storage and settings."""
