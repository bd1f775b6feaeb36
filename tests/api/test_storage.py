"""Storage backends: the local directory and S3 (against moto's S3-compatible server on 127.0.0.1)."""

from __future__ import annotations

import socket

import pytest

from api.storage import LocalStorage, StorageError, content_key, make_storage


def check_backend(storage) -> None:
    key = storage.put(b"hello", "png")
    assert key == content_key(b"hello", "png") and key.endswith(".png")
    assert storage.put(b"hello", "png") == key  # same bytes, same key, no second copy
    assert storage.get(key) == b"hello" and storage.exists(key)
    assert not storage.exists(content_key(b"other", "png"))
    with pytest.raises(StorageError):
        storage.get(content_key(b"other", "png"))
    storage.ping()


def test_local_storage(tmp_path):
    check_backend(LocalStorage(tmp_path))
    with pytest.raises(StorageError):
        LocalStorage(tmp_path).get("../../etc/passwd")


def test_make_storage_schemes(tmp_path):
    assert isinstance(make_storage(f"file://{tmp_path}"), LocalStorage)
    with pytest.raises(ValueError):
        make_storage("ftp://host/x")


@pytest.fixture(scope="module")
def s3_endpoint():
    moto_server = pytest.importorskip("moto.server", reason="moto[server] (the dev extra) is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_s3_storage(s3_endpoint, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="previews")
    storage = make_storage("s3://previews/tryon", endpoint_url=s3_endpoint)
    check_backend(storage)
    listed = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").list_objects_v2(Bucket="previews")
    assert all(item["Key"].startswith("tryon/") for item in listed["Contents"])
    with pytest.raises(StorageError):
        make_storage("s3://missing-bucket", endpoint_url=s3_endpoint).ping()
