"""The catalog: garments, model photos, outfits, model versions, previews, render jobs, API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 06:32:27.981906
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "storefront", "merchandiser", "admin", name="role", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("webhook_secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "garments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "tops", "bottoms", "one-pieces", name="category", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("image_key", sa.String(length=200), nullable=False),
        sa.Column("mask_key", sa.String(length=200), nullable=True),
        sa.Column("mask_derived", sa.Boolean(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "annotating",
                "ready",
                "failed",
                name="garment_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_garments")),
        sa.UniqueConstraint("sku", name=op.f("uq_garments_sku")),
    )
    op.create_index(op.f("ix_garments_category"), "garments", ["category"], unique=False)
    op.create_index(op.f("ix_garments_published"), "garments", ["published"], unique=False)

    op.create_table(
        "model_photos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("image_key", sa.String(length=200), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("keypoints", sa.JSON(), nullable=True),
        sa.Column("parse_key", sa.String(length=200), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "annotating",
                "ready",
                "failed",
                name="photo_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_photos")),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("checkpoint", sa.String(length=1000), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("name", name=op.f("uq_model_versions_name")),
    )
    op.create_table(
        "outfits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outfits")),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_idempotency_records_api_key_id_api_keys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_key"),
    )
    op.create_table(
        "outfit_garments",
        sa.Column("outfit_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("garment_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["garment_id"], ["garments.id"], name=op.f("fk_outfit_garments_garment_id_garments")),
        sa.ForeignKeyConstraint(
            ["outfit_id"], ["outfits.id"], name=op.f("fk_outfit_garments_outfit_id_outfits"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("outfit_id", "position", name=op.f("pk_outfit_garments")),
    )
    op.create_index(op.f("ix_outfit_garments_garment_id"), "outfit_garments", ["garment_id"], unique=False)

    op.create_table(
        "previews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column("model_photo_id", sa.Uuid(), nullable=False),
        sa.Column("outfit_id", sa.Uuid(), nullable=True),
        sa.Column("model_version_id", sa.Uuid(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("size", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column(
            "queue",
            sa.Enum("interactive", "bulk", name="queue", native_enum=False, create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                "canceled",
                name="preview_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "approval",
            sa.Enum(
                "draft", "approved", "rejected", name="approval", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("image_keys", sa.JSON(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("render_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_photo_id"],
            ["model_photos.id"],
            name=op.f("fk_previews_model_photo_id_model_photos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_versions.id"], name=op.f("fk_previews_model_version_id_model_versions")
        ),
        sa.ForeignKeyConstraint(
            ["outfit_id"], ["outfits.id"], name=op.f("fk_previews_outfit_id_outfits"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["api_keys.id"], name=op.f("fk_previews_requested_by_api_keys"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_previews")),
    )
    op.create_index("ix_previews_claimable", "previews", ["status", "queue", "size", "model_version_id"], unique=False)
    op.create_index(op.f("ix_previews_content_key"), "previews", ["content_key"], unique=False)
    op.create_index(op.f("ix_previews_model_photo_id"), "previews", ["model_photo_id"], unique=False)
    op.create_index(
        "uq_previews_live_content_key",
        "previews",
        ["content_key"],
        unique=True,
        sqlite_where=sa.text("status NOT IN ('failed', 'canceled')"),
        postgresql_where=sa.text("status NOT IN ('failed', 'canceled')"),
    )

    op.create_table(
        "render_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("size", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                "canceled",
                name="job_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("fanout_done", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["api_keys.id"], name=op.f("fk_render_jobs_owner_id_api_keys"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_render_jobs")),
    )
    op.create_table(
        "preview_garments",
        sa.Column("preview_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("garment_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["garment_id"], ["garments.id"], name=op.f("fk_preview_garments_garment_id_garments"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["preview_id"], ["previews.id"], name=op.f("fk_preview_garments_preview_id_previews"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("preview_id", "position", name=op.f("pk_preview_garments")),
    )
    op.create_index(op.f("ix_preview_garments_garment_id"), "preview_garments", ["garment_id"], unique=False)

    op.create_table(
        "render_job_items",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("preview_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["render_jobs.id"], name=op.f("fk_render_job_items_job_id_render_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["preview_id"], ["previews.id"], name=op.f("fk_render_job_items_preview_id_previews"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "preview_id", name=op.f("pk_render_job_items")),
    )
    op.create_index(op.f("ix_render_job_items_preview_id"), "render_job_items", ["preview_id"], unique=False)

    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("preview_id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_webhook_subscriptions_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["preview_id"],
            ["previews.id"],
            name=op.f("fk_webhook_subscriptions_preview_id_previews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
        sa.UniqueConstraint("preview_id", "api_key_id", "url", name="uq_webhook_subscriptions_target"),
    )
    op.create_index(op.f("ix_webhook_subscriptions_preview_id"), "webhook_subscriptions", ["preview_id"], unique=False)

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_events_subscription_id_webhook_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("subscription_id", "event_type", name="uq_webhook_events_once"),
    )


def downgrade() -> None:
    op.drop_table("webhook_events")
    op.drop_table("webhook_subscriptions")
    op.drop_table("render_job_items")
    op.drop_table("preview_garments")
    op.drop_table("render_jobs")
    op.drop_table("previews")
    op.drop_table("outfit_garments")
    op.drop_table("idempotency_records")
    op.drop_table("outfits")
    op.drop_table("model_versions")
    op.drop_table("model_photos")
    op.drop_table("garments")
    op.drop_table("api_keys")
