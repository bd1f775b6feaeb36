"""Fixtures of the dashboard tests: signed-in clients per role on the service tests' app."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Appended, not prepended: "conftest" must keep meaning tests/api/conftest.py for the modules that import it.
sys.path.append(str(Path(__file__).resolve().parent))

from dashboard_support import Dashboard  # noqa: E402


@pytest.fixture(scope="module")
def dash(api):
    """Signed-in dashboards of the ``api`` fixture's app, by role."""
    return {role: Dashboard(api.app, api.keys[role]) for role in ("merchandiser", "admin")}
