"""Webhooks: one event per (subscription, event type), signed with the key's secret, retried with backoff.

Headers: ``Tryon-Event-Id`` (stable across retries), ``Tryon-Event-Type``, ``Tryon-Timestamp`` and
``Tryon-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.db import session_scope, utcnow
from api.dispatch import enqueue_webhook
from api.models import ApiKey, Preview, WebhookEvent, WebhookSubscription
from api.security import sign_webhook
from api.services import previews
from api.settings import Settings


def events_for(session: Session, preview: Preview) -> list[uuid.UUID]:
    """Create (once) the completion event of each subscription of ``preview``; returns new event ids."""
    event_type = f"preview.{preview.status.value}"
    created = []
    for subscription in session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.preview_id == preview.id)
    ):
        exists = session.scalar(
            select(WebhookEvent.id).where(
                WebhookEvent.subscription_id == subscription.id, WebhookEvent.event_type == event_type
            )
        )
        if exists is not None:
            continue
        event = WebhookEvent(id=uuid.uuid4(), subscription_id=subscription.id, event_type=event_type, payload={})
        event.payload = {
            "id": str(event.id),
            "type": event_type,
            "created_at": utcnow().isoformat(),
            "data": previews.to_dict(preview),
        }
        session.add(event)
        created.append(event.id)
    session.flush()
    return created


def enqueue(app: Celery, event_id: uuid.UUID, countdown: float | None = None) -> None:
    enqueue_webhook(app, event_id, countdown)


def signed_headers(secret: str, event: WebhookEvent, body: bytes, now: int | None = None) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        "Content-Type": "application/json",
        "Tryon-Event-Id": str(event.id),
        "Tryon-Event-Type": event.event_type,
        "Tryon-Timestamp": str(timestamp),
        "Tryon-Signature": f"t={timestamp},v1={sign_webhook(secret, timestamp, body)}",
    }


def deliver(sessions: sessionmaker[Session], app: Celery, settings: Settings, event_id: uuid.UUID) -> dict:
    """POST the event once; on failure schedule the next try after ``backoff * 2**(attempts-1)`` seconds."""
    with session_scope(sessions) as session:
        event = session.get(WebhookEvent, event_id)
        if event is None or event.status != "pending":
            return {"status": event.status if event else "missing"}
        subscription = session.get(WebhookSubscription, event.subscription_id)
        key = session.get(ApiKey, subscription.api_key_id)
        url, secret = subscription.url, key.webhook_secret
        body = json.dumps(event.payload, sort_keys=True).encode()
        headers = signed_headers(secret, event, body)
    error = None
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=settings.webhook_timeout_seconds)
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    with session_scope(sessions) as session:
        event = session.get(WebhookEvent, event_id)
        if event.status != "pending":
            return {"status": event.status}
        event.attempts += 1
        if error is None:
            event.status, event.delivered_at, event.last_error = "delivered", utcnow(), None
        else:
            event.last_error = error
            if event.attempts >= settings.webhook_max_attempts:
                event.status = "failed"
        status, attempts = event.status, event.attempts
    if status == "pending":
        enqueue(app, event_id, countdown=settings.webhook_backoff_seconds * 2 ** (attempts - 1))
    return {"status": status, "attempts": attempts}
