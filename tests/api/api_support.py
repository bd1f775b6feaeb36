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


def _block(mode: str, width: int, height: int, background, block) -> bytes:
    image = Image.new(mode, (width, height), background)
    image.paste(block, (width // 6, height // 6, width * 5 // 6, height * 5 // 6))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def garment_png(width: int = 48, height: int = 64) -> bytes:
    """A red shirt-ish block on white: the extracted mask is the block."""
    return _block("RGB", width, height, (255, 255, 255), (200, 30, 30))


def garment_mask_png(width: int = 48, height: int = 64) -> bytes:
    """The mask of :func:`garment_png` (white = garment)."""
    return _block("L", width, height, 0, 255)


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

    def garment(
        self, sku: str | None = None, category: str = "tops", published: bool = True, headers=None, **files
    ) -> dict:
        """A garment, ready at once with its mask; ``mask=None`` leaves it to a worker (status annotating)."""
        data = {
            "sku": sku or f"SKU-{uuid.uuid4().hex[:8]}",
            "name": "tee",
            "category": category,
            "published": str(published).lower(),
        }
        upload = {"image": ("g.png", garment_png(), "image/png"), "mask": ("m.png", garment_mask_png(), "image/png")}
        upload = {name: part for name, part in {**upload, **files}.items() if part is not None}
        response = self.call("POST", "/v1/garments", data=data, files=upload, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    def photo(self, name: str = "model", headers=None, **files) -> dict:
        """A model photo, ready at once with its pose and parse; ``pose=None, parse=None`` leaves them to a worker."""
        upload = {
            "image": ("p.png", image_bytes(color=(120, 110, 100)), "image/png"),
            "pose": ("pose.json", pose_json(), "application/json"),
            "parse": ("parse.png", parse_png(), "image/png"),
        }
        upload = {name: part for name, part in {**upload, **files}.items() if part is not None}
        response = self.call("POST", "/v1/model-photos", data={"name": name}, files=upload, headers=headers)
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


def annotator_checkpoints(root: Path, blind: bool = False) -> tuple[Path, Path]:
    """Tiny random parser and pose checkpoints (64x48) for the annotating workers.

    By default they accept any photo (no least person share, no least keypoint count: random networks
    would mostly find no one). ``blind``: a parser that labels every pixel background, with the usual
    threshold, so that every photo has no person in it.
    """
    import torch

    from tryon.annotate.checkpoint import build_network, save_annotator
    from tryon.config import TryOnConfig

    torch.manual_seed(0)
    config = TryOnConfig()
    config.data.height, config.data.width = 64, 48
    config.parser.channels, config.pose.channels = (8, 16, 16), (8, 16, 16, 16)
    config.parser.min_person_fraction = 0.01 if blind else 0.0
    config.pose.min_keypoints = 0
    parser = build_network("parser", config)
    if blind:
        with torch.no_grad():
            parser.net.head.weight.zero_()
            parser.net.head.bias.zero_()
            parser.net.head.bias[0] = 10.0  # background wins everywhere
    return save_annotator(parser, root / "parser"), save_annotator(build_network("pose", config), root / "pose")


def png(array) -> bytes:
    """A numpy image (H, W[, 3]) uint8 as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()
