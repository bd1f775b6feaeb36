"""The role matrix: every endpoint answers 401 without a key and 403 to a role below its own."""

from __future__ import annotations

import uuid

import pytest

ID = str(uuid.uuid4())
ROLES = ["storefront", "merchandiser", "admin"]

# (method, path, the lowest role allowed)
ENDPOINTS = [
    ("GET", "/v1/garments", "storefront"),
    ("POST", "/v1/garments", "merchandiser"),
    ("GET", f"/v1/garments/{ID}", "storefront"),
    ("PATCH", f"/v1/garments/{ID}", "merchandiser"),
    ("DELETE", f"/v1/garments/{ID}", "merchandiser"),
    ("GET", f"/v1/garments/{ID}/image", "storefront"),
    ("GET", f"/v1/garments/{ID}/mask", "storefront"),
    ("PUT", f"/v1/garments/{ID}/mask", "merchandiser"),
    ("POST", f"/v1/garments/{ID}/annotate", "merchandiser"),
    ("GET", "/v1/model-photos", "storefront"),
    ("POST", "/v1/model-photos", "merchandiser"),
    ("GET", f"/v1/model-photos/{ID}", "storefront"),
    ("PATCH", f"/v1/model-photos/{ID}", "merchandiser"),
    ("DELETE", f"/v1/model-photos/{ID}", "merchandiser"),
    ("GET", f"/v1/model-photos/{ID}/image", "storefront"),
    ("GET", f"/v1/model-photos/{ID}/parse", "merchandiser"),
    ("PUT", f"/v1/model-photos/{ID}/annotations", "merchandiser"),
    ("POST", f"/v1/model-photos/{ID}/annotate", "merchandiser"),
    ("GET", "/v1/outfits", "storefront"),
    ("POST", "/v1/outfits", "merchandiser"),
    ("GET", f"/v1/outfits/{ID}", "storefront"),
    ("PATCH", f"/v1/outfits/{ID}", "merchandiser"),
    ("DELETE", f"/v1/outfits/{ID}", "merchandiser"),
    ("GET", "/v1/model-versions", "merchandiser"),
    ("POST", "/v1/model-versions", "admin"),
    ("GET", f"/v1/model-versions/{ID}", "merchandiser"),
    ("POST", f"/v1/model-versions/{ID}/activate", "admin"),
    ("POST", "/v1/previews", "storefront"),
    ("GET", "/v1/previews", "storefront"),
    ("GET", f"/v1/previews/{ID}", "storefront"),
    ("GET", f"/v1/previews/{ID}/image", "storefront"),
    ("POST", f"/v1/previews/{ID}/approve", "merchandiser"),
    ("POST", f"/v1/previews/{ID}/reject", "merchandiser"),
    ("POST", "/v1/previews/approvals", "merchandiser"),
    ("POST", "/v1/render-jobs", "merchandiser"),
    ("GET", f"/v1/render-jobs/{ID}", "merchandiser"),
    ("POST", f"/v1/render-jobs/{ID}/cancel", "merchandiser"),
    ("POST", f"/v1/render-jobs/{ID}/retry", "merchandiser"),
    ("GET", "/v1/api-keys", "admin"),
    ("POST", "/v1/api-keys", "admin"),
    ("POST", f"/v1/api-keys/{ID}/revoke", "admin"),
]


def test_matrix_covers_every_v1_route(api):
    paths = api.client.get("/openapi.json").json()["paths"]
    documented = {
        (method.upper(), "/".join("{x}" if part.startswith("{") else part for part in path.split("/")))
        for path, operations in paths.items()
        if path.startswith("/v1")
        for method in operations
    }
    assert documented == {(method, path.replace(ID, "{x}")) for method, path, _ in ENDPOINTS}


@pytest.mark.parametrize(("method", "path", "needed"), ENDPOINTS)
def test_role_matrix(api, method, path, needed):
    anonymous = api.call(method, path, role=None)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    for role in ROLES:
        response = api.call(method, path, role=role, json={} if method in ("POST", "PATCH") else None)
        if ROLES.index(role) < ROLES.index(needed):
            assert response.status_code == 403, (role, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        else:
            assert response.status_code not in (401, 403), (role, response.text)
