"""HTTP routes under /v1; each module is one resource."""
