"""Request and response bodies, with the examples the OpenAPI document shows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from api.models import Approval, AssetStatus, Category, JobStatus, PreviewStatus, Role, StatusReason

SIZES = ("256x192", "512x384", "1024x768")
Size = Literal["256x192", "512x384", "1024x768"]
ImageFormat = Literal["jpeg", "webp", "png"]
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AssetOut(ORM):
    """What garments and model photos share: their annotation status, and why it failed."""

    status: AssetStatus = Field(
        description="`annotating` until a worker has derived what was not uploaded (a garment's mask, a photo's "
        "pose and parse); then `ready`, or `failed` with `status_reason` and `status_message`."
    )
    status_reason: StatusReason | None = Field(None, description="Why the annotation failed (a stable code).")
    status_message: str | None = Field(None, description="The annotator's explanation, for people.")


class GarmentOut(AssetOut):
    id: uuid.UUID
    sku: str
    name: str
    category: Category
    published: bool
    width: int
    height: int
    mask_derived: bool
    image_url: str
    mask_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class GarmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Blue tee", "published": True}]})
    sku: str | None = Field(None, min_length=1, max_length=100)
    name: str | None = Field(None, min_length=1, max_length=200)
    category: Category | None = None
    published: bool | None = None


class ModelPhotoOut(AssetOut):
    id: uuid.UUID
    name: str
    width: int
    height: int
    keypoints: list[list[float]] | None
    image_url: str
    parse_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ModelPhotoUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Studio A, pose 3"}]})
    name: str | None = Field(None, min_length=1, max_length=200)


class OutfitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Summer look", "garment_ids": ["5b2f0f8e-3c55-4a8e-9d7e-0c6f1b0b2a11"]}]
        },
    )
    name: str = Field(min_length=1, max_length=200)
    garment_ids: list[uuid.UUID] = Field(min_length=1, max_length=10)


class OutfitUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    garment_ids: list[uuid.UUID] | None = Field(None, min_length=1, max_length=10)


class OutfitOut(ORM):
    id: uuid.UUID
    name: str
    garment_ids: list[uuid.UUID]
    created_at: dt.datetime
    updated_at: dt.datetime


class ModelVersionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "v2-2026-11", "checkpoint": "/models/v2", "categories": ["tops"], "activate": True}]
        },
    )
    name: str = Field(min_length=1, max_length=200)
    checkpoint: str = Field(min_length=1, max_length=1000, description='A checkpoint directory, or "demo".')
    categories: list[Category] = Field(min_length=1)
    activate: bool = False


class ModelVersionOut(ORM):
    id: uuid.UUID
    name: str
    checkpoint: str
    categories: list[Category]
    active: bool
    created_at: dt.datetime


class PreviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model_photo_id": "0f9d6c7e-8a3b-4c1d-9e2f-3a4b5c6d7e8f",
                    "garment_id": "5b2f0f8e-3c55-4a8e-9d7e-0c6f1b0b2a11",
                    "size": "512x384",
                    "format": "webp",
                    "webhook_url": "https://shop.example/hooks/tryon",
                }
            ]
        },
    )
    model_photo_id: uuid.UUID
    garment_id: uuid.UUID | None = None
    outfit_id: uuid.UUID | None = None
    size: Size = "512x384"
    format: ImageFormat = "jpeg"
    webhook_url: HttpUrl | None = None


class PreviewError(BaseModel):
    code: str
    message: str


class PreviewOut(BaseModel):
    id: uuid.UUID
    status: PreviewStatus
    approval: Approval
    rejection_reason: str | None
    content_key: str
    model_photo_id: uuid.UUID
    garment_ids: list[uuid.UUID]
    outfit_id: uuid.UUID | None
    model_version_id: uuid.UUID
    size: str
    format: str
    image_url: str | None
    thumbnail_url: str | None
    error: PreviewError | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    render_ms: int | None


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "sleeve artefact"}]})
    reason: str | None = Field(None, max_length=2000)


class BulkApproval(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"preview_ids": ["6d1c3a52-4f7e-4b8a-9c0d-1e2f3a4b5c6d"], "decision": "rejected", "reason": "blurry"}
            ]
        },
    )
    preview_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)
    decision: Literal["approved", "rejected"]
    reason: str | None = Field(None, max_length=2000)


class GarmentFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category | None = None
    published: bool | None = None
    sku_prefix: str | None = None


class ModelPhotoFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_contains: str | None = None


class RenderJobIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "garment_filter": {"category": "tops", "published": True},
                    "model_photo_ids": ["0f9d6c7e-8a3b-4c1d-9e2f-3a4b5c6d7e8f"],
                    "size": "1024x768",
                    "format": "webp",
                }
            ]
        },
    )
    garment_ids: list[uuid.UUID] | None = None
    garment_filter: GarmentFilter | None = None
    model_photo_ids: list[uuid.UUID] | None = None
    model_photo_filter: ModelPhotoFilter | None = None
    size: Size = "512x384"
    format: ImageFormat = "jpeg"


class RenderJobOut(BaseModel):
    id: uuid.UUID
    status: JobStatus
    selection: dict[str, Any]
    size: str
    format: str
    total: int | None
    counts: dict[str, int]
    owner_id: uuid.UUID | None
    error_message: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "shop frontend", "role": "storefront"}]}
    )
    name: str = Field(min_length=1, max_length=200)
    role: Role


class ApiKeyOut(ORM):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: Annotated[str, Field(description="The secret: shown once, never again.")]
    webhook_secret: Annotated[str, Field(description="Signs this key's webhooks (HMAC-SHA256); shown once.")]
