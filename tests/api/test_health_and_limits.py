"""/healthz, /readyz, /metrics, the rate limit and the OpenAPI document."""

from __future__ import annotations

from api_support import database
from conftest import make_keys, make_settings
from fastapi.testclient import TestClient

from api.app import create_app
from api.ratelimit import RateLimiter


def test_healthz_and_readyz(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}


def test_readyz_reports_an_unreachable_database(tmp_path):
    settings = make_settings(tmp_path, "postgresql+psycopg2://nobody@127.0.0.1:1/none", migrate_on_start=False)
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_ready" and "database" in response.json()["error"]["message"]


def test_metrics_expose_requests_and_catalog_gauges(api):
    api.call("GET", "/v1/garments")
    text = api.client.get("/metrics").text
    assert 'tryon_http_requests_total{method="GET",route="/v1/garments",status="200"}' in text
    assert "tryon_http_request_duration_seconds_bucket" in text
    assert 'tryon_previews{status="succeeded"}' in text
    assert 'tryon_queue_depth{queue="interactive"}' in text
    assert "tryon_render_duration_seconds_count" in text


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    with database("sqlite", tmp_path) as url:
        settings = make_settings(tmp_path, url, rate_limit_per_minute=3)
        with TestClient(create_app(settings)) as client:
            keys = make_keys(settings)
            headers = {"Authorization": f"Bearer {keys['storefront']}"}
            answers = [client.get("/v1/garments", headers=headers) for _ in range(4)]
            other = client.get("/v1/garments", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert other.status_code == 200  # per key


def test_token_bucket_refills():
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.acquire("k") == 0 for _ in range(60))
    assert limiter.acquire("k") > 0
    now[0] += 1.0
    assert limiter.acquire("k") == 0


def test_openapi_documents_every_route_with_examples_and_the_error_shape(api):
    document = api.client.get("/openapi.json").json()
    assert "/v1/previews" in document["paths"] and "/v1/render-jobs/{job_id}/cancel" in document["paths"]
    preview_post = document["paths"]["/v1/previews"]["post"]
    assert {"200", "202", "401", "403", "422", "429"} <= set(preview_post["responses"])
    assert "example" in preview_post["responses"]["200"]["content"]["application/json"]
    assert "ErrorResponse" in document["components"]["schemas"]
    assert document["components"]["schemas"]["PreviewIn"].get("examples")
