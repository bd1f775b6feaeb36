"""Helpers for the service tests: real services or a clear skip, tiny images, a worker subprocess."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

POSTGRES_URL = os.environ.get("TRYON_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TRYON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is down; under CI=true a missing service is a failure, not a skip."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        message = f"{name} is not reachable at {host}:{port}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def postgres_schema():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards (never the shared tables)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    schema = f"tryon_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database(kind: str, tmp: Path):
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'tryon.db'}"
    else:
        with postgres_schema() as url:
            yield url


@contextmanager
def redis_prefix():
    """A unique Redis key prefix; only keys under it are deleted afterwards."""
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    prefix = f"tryon-test-{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def image_bytes(
    width: int = 48, height: int = 64, color=(200, 40, 40), fmt: str = "PNG", mode: str = "RGB", **kw
) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, fmt, **kw)
    return buffer.getvalue()


def garment_png(width: int = 48, height: int = 64) -> bytes:
    """A red shirt-ish block on white: the derived mask is the block."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    image.paste((200, 30, 30), (width // 6, height // 6, width * 5 // 6, height * 5 // 6))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def pose_json(width: int = 48, height: int = 64, points: int = 18) -> bytes:
    values = []
    for i in range(points):
        values += [width * (0.3 + 0.4 * (i % 3) / 2), height * (0.1 + 0.8 * i / points), 0.9]
    return json.dumps({"people": [{"pose_keypoints_2d": values}]}).encode()


def parse_png(width: int = 48, height: int = 64) -> bytes:
    image = Image.new("L", (width, height), 0)
    image.paste(13, (width // 3, 0, width * 2 // 3, height // 5))  # face
    image.paste(5, (width // 4, height // 5, width * 3 // 4, height * 3 // 5))  # upper clothes
    image.paste(9, (width // 4, height * 3 // 5, width * 3 // 4, height))  # pants
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class Api:
    """A TestClient with keys per role and catalog shortcuts."""

    def __init__(self, client, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys

    def headers(self, role: str | None = "admin", **extra) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return {**headers, **extra}

    def call(self, method: str, path: str, role: str | None = "admin", headers: dict | None = None, **kwargs):
        return self.client.request(method, path, headers={**self.headers(role), **(headers or {})}, **kwargs)

    def garment(self, sku: str | None = None, category: str = "tops", published: bool = True, **files) -> dict:
        data = {
            "sku": sku or f"SKU-{uuid.uuid4().hex[:8]}",
            "name": "tee",
            "category": category,
            "published": str(published).lower(),
        }
        upload = {"image": ("g.png", garment_png(), "image/png"), **files}
        response = self.call("POST", "/v1/garments", data=data, files=upload)
        assert response.status_code == 201, response.text
        return response.json()

    def photo(self, name: str = "model", **files) -> dict:
        upload = {
            "image": ("p.png", image_bytes(color=(120, 110, 100)), "image/png"),
            "pose": ("pose.json", pose_json(), "application/json"),
            "parse": ("parse.png", parse_png(), "image/png"),
            **files,
        }
        response = self.call("POST", "/v1/model-photos", data={"name": name}, files=upload)
        assert response.status_code == 201, response.text
        return response.json()


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@contextmanager
def worker_process(settings, log_path: Path):
    """A real `celery worker --pool=solo` subprocess configured through TRYON_* variables."""
    from api.worker import worker_command

    env = {**os.environ, **settings.as_environ(), "OMP_NUM_THREADS": "1"}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    with open(log_path, "w") as log:
        process = subprocess.Popen(worker_command(settings), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
