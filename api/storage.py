"""Blob storage: a local directory by default, S3-compatible (boto3) when ``TRYON_STORAGE_URL`` is s3://.

Keys are content hashes (``sha256 hex`` plus an extension), so writing the same bytes twice is a no-op
and a key never changes meaning: that is what makes strong ETags and immutable caching safe.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse


class StorageError(RuntimeError):
    """The storage backend failed or a blob is missing."""


class Storage(Protocol):
    def put(self, data: bytes, extension: str) -> str:
        """Store ``data`` under its content key (``<sha256>.<extension>``) and return the key."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def ping(self) -> None:
        """Raise :class:`StorageError` when the backend cannot be reached."""
        ...


def content_key(data: bytes, extension: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest}.{extension.lstrip('.')}"


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"invalid storage key {key!r}")
        return path

    def put(self, data: bytes, extension: str) -> str:
        key = content_key(data, extension)
        path = self._path(key)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: a reader never sees half a blob, and concurrent writers agree.
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
                handle.write(data)
            os.replace(handle.name, path)
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as error:
            raise StorageError(f"blob {key!r} is missing") from error

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root):
                pass
        except OSError as error:
            raise StorageError(f"storage directory {self.root} is not writable: {error}") from error


class S3Storage:
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str = "us-east-1"):
        import boto3  # imported here: the local default needs no AWS machinery

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, data: bytes, extension: str) -> str:
        key = content_key(data, extension)
        if not self.exists(key):
            self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)
        return key

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._object(key))["Body"].read()
        except ClientError as error:
            raise StorageError(f"blob {key!r}: {error}") from error

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"blob {key!r}: {error}") from error
        return True

    def ping(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"bucket {self.bucket!r} is not reachable: {error}") from error


def make_storage(url: str, endpoint_url: str | None = None, region: str = "us-east-1") -> Storage:
    """``file:///abs/dir`` (or a plain path) -> :class:`LocalStorage`; ``s3://bucket/prefix`` -> S3."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        return S3Storage(parsed.netloc, parsed.path, endpoint_url=endpoint_url, region=region)
    if parsed.scheme in ("file", ""):
        return LocalStorage(parsed.path if parsed.scheme == "file" else url)
    raise ValueError(f"unsupported TRYON_STORAGE_URL scheme {parsed.scheme!r} (use file:// or s3://)")
