"""``Idempotency-Key``: the first answer to a (key, Idempotency-Key) pair is stored and replayed.

The same header with a different request body is a client bug and answers 422 ``idempotency_key_reused``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.models import IdempotencyRecord


def request_hash(method: str, path: str, body: Any) -> str:
    material = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def lookup(session: Session, api_key_id: uuid.UUID, key: str, digest: str) -> IdempotencyRecord | None:
    record = session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key)
    )
    if record is not None and record.request_hash != digest:
        raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
    return record


def store(session: Session, api_key_id: uuid.UUID, key: str, digest: str, status: int, body: dict) -> IdempotencyRecord:
    """Store the answer; if a concurrent request stored one first, that one is the answer."""
    record = IdempotencyRecord(api_key_id=api_key_id, key=key, request_hash=digest, status_code=status, body=body)
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        existing = lookup(session, api_key_id, key, digest)
        if existing is None:
            raise
        return existing
    return record
