"""Garments, model photos, outfits and model versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import images
from api.errors import ApiError, not_found
from api.models import (
    ApiKey,
    AssetStatus,
    Category,
    Garment,
    ModelPhoto,
    ModelVersion,
    Outfit,
    OutfitGarment,
    Preview,
    PreviewGarment,
    Role,
)
from api.security import role_allows
from api.services import annotation
from api.settings import Settings
from api.storage import Storage


def _store_png(storage: Storage, image: Image.Image) -> str:
    return storage.put(images.encode(image, "png"), "png")


def create_garment(
    session: Session,
    storage: Storage,
    settings: Settings,
    *,
    sku: str,
    name: str,
    category: Category,
    published: bool,
    image_bytes: bytes,
    mask_bytes: bytes | None,
) -> Garment:
    """A garment, ready with its uploaded mask, or ``annotating`` until a worker extracts one (the caller
    sends it to the workers once committed: see annotation.enqueue_if_annotating)."""
    decoded = images.decode_upload(image_bytes, "image", settings.max_upload_bytes, settings.max_image_pixels)
    rgb = images.to_rgb(decoded.image)
    if mask_bytes is not None:
        mask_upload = images.decode_upload(mask_bytes, "mask", settings.max_upload_bytes, settings.max_image_pixels)
        mask = {"mask_key": _store_png(storage, images.binary_mask(mask_upload.image, rgb.size, "mask"))}
        state = {"status": AssetStatus.ready, "mask_derived": False, **mask}
    else:
        state = {"mask_derived": True, **annotation.pending()}
    _check_sku_free(session, sku)
    garment = Garment(
        sku=sku,
        name=name,
        category=category,
        published=published,
        image_key=_store_png(storage, rgb),
        width=rgb.width,
        height=rgb.height,
        **state,
    )
    session.add(garment)
    _flush_unique(session, "sku_taken", f"sku {sku!r} is already in the catalog")
    return garment


def set_garment_mask(
    session: Session, storage: Storage, settings: Settings, garment: Garment, mask_bytes: bytes
) -> Garment:
    """Replace the garment's mask by an uploaded one (checked as an upload's): ready, whatever its status.

    The new mask is stored before the row points at it; the old blob stays, since keys are content hashes
    that other rows may share and storage has no delete. A bad mask is an ApiError and changes nothing.
    """
    upload = images.decode_upload(mask_bytes, "mask", settings.max_upload_bytes, settings.max_image_pixels)
    mask = images.binary_mask(upload.image, (garment.width, garment.height), "mask")
    annotation.by_hand(session, garment, {"mask_key": _store_png(storage, mask), "mask_derived": False})
    return garment


def _check_sku_free(session: Session, sku: str, except_id: uuid.UUID | None = None) -> None:
    query = select(Garment.id).where(Garment.sku == sku)
    if except_id is not None:
        query = query.where(Garment.id != except_id)
    if session.scalar(query) is not None:
        raise ApiError(409, "sku_taken", f"sku {sku!r} is already in the catalog")


def _flush_unique(session: Session, code: str, message: str) -> None:
    """Flush, turning a unique-constraint race into a 409 rather than a 500."""
    try:
        session.flush()
    except IntegrityError as error:
        session.rollback()
        raise ApiError(409, code, message) from error


def visible_garments(key: ApiKey):
    """A storefront sees the published catalog only; other roles see everything."""
    query = select(Garment)
    if not role_allows(key.role, Role.merchandiser):
        query = query.where(Garment.published.is_(True))
    return query


def get_garment(session: Session, garment_id: uuid.UUID, key: ApiKey) -> Garment:
    garment = session.scalar(visible_garments(key).where(Garment.id == garment_id))
    if garment is None:
        raise not_found("garment", garment_id)
    return garment


def list_garments(
    session: Session,
    key: ApiKey,
    *,
    category: Category | None,
    status: AssetStatus | None,
    published: bool | None,
    sku: str | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Garment], int]:
    query = visible_garments(key)
    if category is not None:
        query = query.where(Garment.category == category)
    if status is not None:
        query = query.where(Garment.status == status)
    if published is not None:
        query = query.where(Garment.published.is_(published))
    if sku is not None:
        query = query.where(Garment.sku == sku)
    if q:
        query = query.where(Garment.name.ilike(f"%{q}%"))
    return _page(session, query, Garment.created_at, limit, offset)


def _page(session: Session, query, order_column, limit: int, offset: int):
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(order_column.desc()).limit(limit).offset(offset)).all()
    return rows, total


def update_garment(session: Session, garment: Garment, changes: dict) -> Garment:
    if "sku" in changes:
        _check_sku_free(session, changes["sku"], garment.id)
    if "category" in changes and changes["category"] != garment.category:
        in_outfit = session.scalar(select(OutfitGarment.outfit_id).where(OutfitGarment.garment_id == garment.id))
        if in_outfit is not None:
            raise ApiError(409, "garment_in_use", "the garment is in an outfit: its category cannot change")
    for field, value in changes.items():
        setattr(garment, field, value)
    _flush_unique(session, "sku_taken", f"sku {changes.get('sku')!r} is already in the catalog")
    return garment


def delete_garment(session: Session, garment: Garment) -> None:
    """Delete a garment and its previews; refused while an outfit still holds it."""
    outfit_id = session.scalar(select(OutfitGarment.outfit_id).where(OutfitGarment.garment_id == garment.id))
    if outfit_id is not None:
        raise ApiError(409, "garment_in_use", f"outfit {outfit_id} holds this garment: remove it there first")
    preview_ids = select(PreviewGarment.preview_id).where(PreviewGarment.garment_id == garment.id)
    for preview in session.scalars(select(Preview).where(Preview.id.in_(preview_ids))):
        session.delete(preview)
    session.flush()  # the previews go first: the garment's own cascade would race the ORM's
    session.delete(garment)


def create_model_photo(
    session: Session,
    storage: Storage,
    settings: Settings,
    *,
    name: str,
    image_bytes: bytes,
    pose_bytes: bytes | None = None,
    parse_bytes: bytes | None = None,
) -> ModelPhoto:
    """A model photo, ready with its uploaded pose and parse, or ``annotating`` until a worker derives them
    (the caller sends it to the workers once committed). One of pose and parse without the other is a 422."""
    if (pose_bytes is None) != (parse_bytes is None):
        raise ApiError(
            422,
            "annotations_incomplete",
            f"{'pose' if parse_bytes is None else 'parse'} without "
            f"{'parse' if parse_bytes is None else 'pose'}: give both, or neither and a worker annotates the photo",
        )
    decoded = images.decode_upload(image_bytes, "image", settings.max_upload_bytes, settings.max_image_pixels)
    rgb = images.to_rgb(decoded.image)
    if pose_bytes is not None:
        annotations = _uploaded_annotations(storage, settings, rgb.size, pose_bytes, parse_bytes)
        state = {"status": AssetStatus.ready, **annotations}
    else:
        state = annotation.pending()
    photo = ModelPhoto(name=name, image_key=_store_png(storage, rgb), width=rgb.width, height=rgb.height, **state)
    session.add(photo)
    session.flush()
    return photo


def _uploaded_annotations(
    storage: Storage, settings: Settings, size: tuple[int, int], pose_bytes: bytes, parse_bytes: bytes
) -> dict:
    """An uploaded pose (COCO-18 keypoints in the photo's pixels) and parse (LIP labels), checked and stored."""
    if len(pose_bytes) > settings.max_upload_bytes:
        raise ApiError(
            413, "file_too_large", f"pose: {len(pose_bytes)} bytes, the limit is {settings.max_upload_bytes}"
        )
    keypoints = images.parse_pose(pose_bytes, size, "pose")
    parse_upload = images.decode_upload(parse_bytes, "parse", settings.max_upload_bytes, settings.max_image_pixels)
    if parse_upload.format != "png":
        raise ApiError(415, "unsupported_media_type", "parse: a human parse must be a PNG label map")
    parse = images.parse_map(parse_upload.image, size, "parse")
    return {"keypoints": keypoints, "parse_key": _store_png(storage, parse)}


def set_model_photo_annotations(
    session: Session, storage: Storage, settings: Settings, photo: ModelPhoto, pose_bytes: bytes, parse_bytes: bytes
) -> ModelPhoto:
    """Replace the photo's pose and parse by uploaded ones (checked as an upload's): ready, whatever its
    status. As for a garment's mask: stored before the switch, old blobs kept, nothing changed on an error."""
    results = _uploaded_annotations(storage, settings, (photo.width, photo.height), pose_bytes, parse_bytes)
    annotation.by_hand(session, photo, results)
    return photo


def get_model_photo(session: Session, photo_id: uuid.UUID) -> ModelPhoto:
    photo = session.get(ModelPhoto, photo_id)
    if photo is None:
        raise not_found("model_photo", photo_id)
    return photo


def list_model_photos(
    session: Session, *, status: AssetStatus | None, q: str | None, limit: int, offset: int
) -> tuple[Sequence[ModelPhoto], int]:
    query = select(ModelPhoto)
    if status is not None:
        query = query.where(ModelPhoto.status == status)
    if q:
        query = query.where(ModelPhoto.name.ilike(f"%{q}%"))
    return _page(session, query, ModelPhoto.created_at, limit, offset)


def delete_model_photo(session: Session, photo: ModelPhoto) -> None:
    for preview in session.scalars(select(Preview).where(Preview.model_photo_id == photo.id)):
        session.delete(preview)
    session.delete(photo)


# --- model versions -------------------------------------------------------------------------------


def active_versions(session: Session) -> Sequence[ModelVersion]:
    return session.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))).all()


def rendered_categories(session: Session) -> set[str]:
    return {category for version in active_versions(session) for category in version.categories}


def version_for(session: Session, categories: Sequence[str]) -> ModelVersion:
    """The active model version that renders every one of ``categories`` (newest first), or a 422."""
    needed = set(categories)
    for version in sorted(active_versions(session), key=lambda v: v.created_at, reverse=True):
        if needed <= set(version.categories):
            return version
    missing = needed - rendered_categories(session)
    if missing:
        raise ApiError(422, "category_not_rendered", f"no active model version renders {', '.join(sorted(missing))}")
    raise ApiError(
        422, "no_model_version", f"no single active model version renders all of {', '.join(sorted(needed))}"
    )


def create_model_version(
    session: Session, *, name: str, checkpoint: str, categories: list[str], activate: bool
) -> ModelVersion:
    if session.scalar(select(ModelVersion.id).where(ModelVersion.name == name)) is not None:
        raise ApiError(409, "model_version_exists", f"a model version named {name!r} exists")
    version = ModelVersion(name=name, checkpoint=checkpoint, categories=sorted(set(categories)), active=False)
    session.add(version)
    _flush_unique(session, "model_version_exists", f"a model version named {name!r} exists")
    if activate:
        activate_model_version(session, version)
    return version


def activate_model_version(session: Session, version: ModelVersion) -> ModelVersion:
    """Activate ``version``; any active version sharing a category with it steps down (one per category)."""
    for other in active_versions(session):
        if other.id != version.id and set(other.categories) & set(version.categories):
            other.active = False
    version.active = True
    session.flush()
    return version


def get_model_version(session: Session, version_id: uuid.UUID) -> ModelVersion:
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise not_found("model_version", version_id)
    return version


# --- outfits --------------------------------------------------------------------------------------


def _outfit_garments(session: Session, garment_ids: list[uuid.UUID]) -> list[Garment]:
    if len(set(garment_ids)) != len(garment_ids):
        raise ApiError(422, "duplicate_garment", "an outfit holds each garment once")
    found = {g.id: g for g in session.scalars(select(Garment).where(Garment.id.in_(garment_ids)))}
    missing = [str(i) for i in garment_ids if i not in found]
    if missing:
        raise ApiError(422, "garment_not_found", f"unknown garment(s): {', '.join(missing)}")
    garments = [found[i] for i in garment_ids]
    rendered = rendered_categories(session)
    unrendered = sorted({g.category.value for g in garments} - rendered)
    if unrendered:
        raise ApiError(
            422,
            "category_not_rendered",
            f"no active model version renders {', '.join(unrendered)} "
            f"(rendered now: {', '.join(sorted(rendered)) or 'none'})",
        )
    return garments


def create_outfit(session: Session, name: str, garment_ids: list[uuid.UUID]) -> Outfit:
    _outfit_garments(session, garment_ids)
    outfit = Outfit(name=name)
    outfit.items = [OutfitGarment(position=i, garment_id=g) for i, g in enumerate(garment_ids)]
    session.add(outfit)
    session.flush()
    return outfit


def update_outfit(session: Session, outfit: Outfit, name: str | None, garment_ids: list[uuid.UUID] | None) -> Outfit:
    if name is not None:
        outfit.name = name
    if garment_ids is not None:
        _outfit_garments(session, garment_ids)
        outfit.items.clear()
        session.flush()  # the old (outfit, position) rows go before the new ones arrive
        outfit.items.extend(OutfitGarment(position=i, garment_id=g) for i, g in enumerate(garment_ids))
    session.flush()
    return outfit


def get_outfit(session: Session, outfit_id: uuid.UUID) -> Outfit:
    outfit = session.get(Outfit, outfit_id)
    if outfit is None:
        raise not_found("outfit", outfit_id)
    return outfit


def list_outfits(session: Session, limit: int, offset: int) -> tuple[Sequence[Outfit], int]:
    return _page(session, select(Outfit), Outfit.created_at, limit, offset)


def session_has_no_versions(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(ModelVersion)) == 0
