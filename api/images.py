"""Upload checks and image conversions: type sniffing, byte and pixel limits, EXIF orientation.

Every rejection is an :class:`api.errors.ApiError` with a typed code: ``unsupported_media_type``
(415), ``file_too_large`` (413), ``image_too_large`` (422, decompression bombs included),
``image_truncated`` and ``image_invalid`` (422).
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from api.errors import ApiError

MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
NUM_LIP_LABELS = 20
NUM_KEYPOINTS = 18


def sniff_format(data: bytes) -> str | None:
    """The image type told by its magic bytes (never by a file name or a client's Content-Type)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass
class DecodedImage:
    image: Image.Image  # EXIF orientation applied
    format: str


def decode_upload(data: bytes, field: str, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Check and fully decode an uploaded JPEG, PNG or WebP; EXIF orientation is applied."""
    if len(data) > max_bytes:
        raise ApiError(413, "file_too_large", f"{field}: {len(data)} bytes, the limit is {max_bytes}")
    if not data:
        raise ApiError(422, "image_invalid", f"{field}: empty file")
    kind = sniff_format(data)
    if kind is None:
        raise ApiError(415, "unsupported_media_type", f"{field}: not a JPEG, PNG or WebP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            # Checked from the header, before any pixel is decoded: this is what stops a bomb.
            if width * height > max_pixels:
                raise ApiError(
                    422, "image_too_large", f"{field}: {width}x{height} pixels, the limit is {max_pixels} pixels"
                )
            image.load()
            image = ImageOps.exif_transpose(image)
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ApiError(422, "image_too_large", f"{field}: decompression bomb ({error})") from error
    except OSError as error:
        if "truncated" in str(error).lower():
            raise ApiError(422, "image_truncated", f"{field}: the image file is truncated") from error
        raise ApiError(422, "image_invalid", f"{field}: cannot decode the image ({error})") from error
    except (SyntaxError, ValueError) as error:
        raise ApiError(422, "image_invalid", f"{field}: cannot decode the image ({error})") from error
    return DecodedImage(image=image, format=kind)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited over white (catalog photos are shot on white)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buffer, "JPEG", quality=92)
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=90)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def binary_mask(image: Image.Image, size: tuple[int, int], field: str) -> Image.Image:
    """An uploaded mask as L 0/255, the same size (W, H) as its image."""
    if image.size != size:
        raise ApiError(
            422, "mask_size_mismatch", f"{field}: {image.size[0]}x{image.size[1]}, image is {size[0]}x{size[1]}"
        )
    array = np.asarray(image.convert("L"))
    binary = array >= 128 if array.max(initial=0) > 1 else array > 0
    return Image.fromarray((binary * 255).astype(np.uint8), mode="L")


def parse_map(image: Image.Image, size: tuple[int, int], field: str) -> Image.Image:
    """An uploaded human parse (PNG, one channel of LIP labels 0..19) checked against its photo's size."""
    if image.mode not in ("L", "P", "I", "I;16"):
        raise ApiError(422, "parse_invalid", f"{field}: expected a one-channel label map, got mode {image.mode}")
    if image.size != size:
        raise ApiError(
            422, "parse_size_mismatch", f"{field}: {image.size[0]}x{image.size[1]}, photo is {size[0]}x{size[1]}"
        )
    labels = np.asarray(image if image.mode in ("L", "P") else image.convert("I"))
    if labels.max(initial=0) >= NUM_LIP_LABELS or labels.min(initial=0) < 0:
        raise ApiError(422, "parse_invalid", f"{field}: labels must be LIP labels 0..{NUM_LIP_LABELS - 1}")
    return Image.fromarray(labels.astype(np.uint8), mode="L")


def parse_pose(data: bytes, size: tuple[int, int], field: str) -> list[list[float]]:
    """OpenPose JSON (COCO-18 or BODY_25, told by length) as COCO-18 (18, 3) in the photo's pixels."""
    from tryon.data.formats import DataError, keypoints_from_json_obj

    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(422, "pose_invalid", f"{field}: invalid JSON ({error})") from error
    try:
        points = keypoints_from_json_obj(obj, field)
    except DataError as error:
        raise ApiError(422, "pose_invalid", str(error)) from error
    width, height = size
    visible = points[:, 2] > 0
    xs, ys = points[visible, 0], points[visible, 1]
    if bool(((xs < 0) | (xs > width) | (ys < 0) | (ys > height)).any()):
        raise ApiError(422, "pose_out_of_bounds", f"{field}: keypoints lie outside the {width}x{height} photo")
    return [[float(v) for v in row] for row in points.tolist()]


def thumbnail(image: Image.Image, height: int) -> Image.Image:
    width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.Resampling.LANCZOS)
