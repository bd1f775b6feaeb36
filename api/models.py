"""The catalog: typed SQLAlchemy 2 models. Migrations in ``migrations/`` create exactly these tables."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.db import Base, UTCDateTime, utcnow


class Role(enum.StrEnum):
    storefront = "storefront"
    merchandiser = "merchandiser"
    admin = "admin"


class Category(enum.StrEnum):
    tops = "tops"
    bottoms = "bottoms"
    one_pieces = "one-pieces"


class AssetStatus(enum.StrEnum):
    """Of a garment or model photo: ``annotating`` until a worker has derived its mask, or pose and parse."""

    annotating = "annotating"
    ready = "ready"
    failed = "failed"


class StatusReason(enum.StrEnum):
    """Why an asset's annotation failed (stored as a plain string: a new code needs no migration)."""

    no_person = "no_person"
    no_garment = "no_garment"
    unreadable_image = "unreadable_image"
    annotator_unavailable = "annotator_unavailable"
    annotation_failed = "annotation_failed"
    too_many_attempts = "too_many_attempts"


class PreviewStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"


class Approval(enum.StrEnum):
    draft = "draft"
    approved = "approved"
    rejected = "rejected"


class JobStatus(enum.StrEnum):
    queued = "queued"  # created, fan-out not started
    running = "running"
    succeeded = "succeeded"
    failed = "failed"  # finished with at least one failed preview
    canceled = "canceled"


class Queue(enum.StrEnum):
    interactive = "interactive"
    bulk = "bulk"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint on both SQLite and PostgreSQL."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def _uuid() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime(), default=utcnow)


def _updated() -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _uuid()
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # shown in lists; finds the row
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the whole key
    webhook_secret: Mapped[str] = mapped_column(String(64))  # signs this key's webhooks (HMAC-SHA256)
    created_at: Mapped[dt.datetime] = _created()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Annotation:
    """Columns of an asset that a worker annotates (a garment's mask, a photo's pose and parse).

    Like a preview's render, an annotation is claimed with a lease: a redelivered message finds the lease
    held (or the asset no longer annotating) and does nothing; recovery re-queues an expired lease.
    """

    status_reason: Mapped[str | None] = mapped_column(String(64))  # a StatusReason, once failed
    status_message: Mapped[str | None] = mapped_column(Text)
    annotation_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    annotation_enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    annotation_lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Garment(Annotation, Base):
    __tablename__ = "garments"

    id: Mapped[uuid.UUID] = _uuid()
    sku: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(_enum(Category, "category"), index=True)
    image_key: Mapped[str] = mapped_column(String(200))
    mask_key: Mapped[str | None] = mapped_column(String(200))
    mask_derived: Mapped[bool] = mapped_column(Boolean, default=False)  # no mask uploaded: a worker derives it
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    status: Mapped[AssetStatus] = mapped_column(
        _enum(AssetStatus, "garment_status"), default=AssetStatus.ready, index=True
    )
    published: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


class ModelPhoto(Annotation, Base):
    __tablename__ = "model_photos"

    id: Mapped[uuid.UUID] = _uuid()
    name: Mapped[str] = mapped_column(String(200))
    image_key: Mapped[str] = mapped_column(String(200))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    keypoints: Mapped[list[list[float]] | None] = mapped_column(JSON)  # COCO-18 (18, 3) in image pixels
    parse_key: Mapped[str | None] = mapped_column(String(200))  # PNG of LIP labels, same size as the image
    status: Mapped[AssetStatus] = mapped_column(
        _enum(AssetStatus, "photo_status"), default=AssetStatus.ready, index=True
    )
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


class Outfit(Base):
    __tablename__ = "outfits"

    id: Mapped[uuid.UUID] = _uuid()
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    items: Mapped[list[OutfitGarment]] = relationship(
        order_by="OutfitGarment.position", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def garment_ids(self) -> list[uuid.UUID]:
        return [item.garment_id for item in self.items]


class OutfitGarment(Base):
    __tablename__ = "outfit_garments"

    outfit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outfits.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    garment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("garments.id"), index=True)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[uuid.UUID] = _uuid()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    checkpoint: Mapped[str] = mapped_column(String(1000))  # a checkpoint directory, or "demo"
    categories: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = _created()


class Preview(Base):
    __tablename__ = "previews"
    __table_args__ = (
        # One live preview per content key; failed and canceled ones leave room for a new attempt.
        Index(
            "uq_previews_live_content_key",
            "content_key",
            unique=True,
            sqlite_where=text("status NOT IN ('failed', 'canceled')"),
            postgresql_where=text("status NOT IN ('failed', 'canceled')"),
        ),
        Index("ix_previews_claimable", "status", "queue", "size", "model_version_id"),
    )

    id: Mapped[uuid.UUID] = _uuid()
    content_key: Mapped[str] = mapped_column(String(64), index=True)
    model_photo_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_photos.id", ondelete="CASCADE"), index=True)
    outfit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("outfits.id", ondelete="SET NULL"))
    model_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    size: Mapped[str] = mapped_column(String(16))  # "HxW", e.g. "512x384"
    format: Mapped[str] = mapped_column(String(8))
    queue: Mapped[Queue] = mapped_column(_enum(Queue, "queue"), default=Queue.interactive)
    status: Mapped[PreviewStatus] = mapped_column(_enum(PreviewStatus, "preview_status"), default="queued")
    approval: Mapped[Approval] = mapped_column(_enum(Approval, "approval"), default=Approval.draft)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    image_keys: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # variant ("HxW", "thumbnail") -> key
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(36))  # the render attempt allowed to write
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _created()
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    render_ms: Mapped[int | None] = mapped_column(Integer)
    items: Mapped[list[PreviewGarment]] = relationship(
        order_by="PreviewGarment.position", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def garment_ids(self) -> list[uuid.UUID]:
        return [item.garment_id for item in self.items]


class PreviewGarment(Base):
    __tablename__ = "preview_garments"

    preview_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("previews.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    garment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("garments.id", ondelete="CASCADE"), index=True)


class RenderJob(Base):
    __tablename__ = "render_jobs"

    id: Mapped[uuid.UUID] = _uuid()
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    selection: Mapped[dict[str, Any]] = mapped_column(JSON)
    size: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "job_status"), default=JobStatus.queued)
    total: Mapped[int | None] = mapped_column(Integer)  # known once the selection is resolved
    fanout_done: Mapped[int] = mapped_column(Integer, default=0)  # pairs already turned into previews
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # previews by status, kept current
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class RenderJobItem(Base):
    __tablename__ = "render_job_items"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("render_jobs.id", ondelete="CASCADE"), primary_key=True)
    preview_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("previews.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_key"),)

    id: Mapped[uuid.UUID] = _uuid()
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = _created()


class WebhookSubscription(Base):
    """A requester's ``webhook_url`` for one preview (several requesters may share a preview)."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (UniqueConstraint("preview_id", "api_key_id", "url", name="uq_webhook_subscriptions_target"),)

    id: Mapped[uuid.UUID] = _uuid()
    preview_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("previews.id", ondelete="CASCADE"), index=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = _created()


class WebhookEvent(Base):
    """One event to deliver; its id is the stable event id sent on every retry."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("subscription_id", "event_type", name="uq_webhook_events_once"),)

    id: Mapped[uuid.UUID] = _uuid()
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created()
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
