"""Upload checks: types by magic bytes, byte and pixel limits, bombs, truncation, EXIF orientation."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from api_support import image_bytes
from PIL import Image

from api.errors import ApiError
from api.images import decode_upload, sniff_format

LIMITS = {"max_bytes": 1_000_000, "max_pixels": 100_000}


def code_of(data: bytes, **limits) -> str:
    with pytest.raises(ApiError) as raised:
        decode_upload(data, "image", **{**LIMITS, **limits})
    return f"{raised.value.status} {raised.value.code}"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels in a few bytes: the shape of a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_types(fmt):
    decoded = decode_upload(image_bytes(fmt=fmt), "image", **LIMITS)
    assert decoded.image.size == (48, 64) and decoded.format == fmt.lower()


def test_wrong_type_is_415():
    assert code_of(b"GIF89a" + b"\0" * 100) == "415 unsupported_media_type"
    assert code_of(b"%PDF-1.4") == "415 unsupported_media_type"
    assert sniff_format(image_bytes(fmt="GIF")) is None


def test_byte_limit_is_413():
    assert code_of(image_bytes(), max_bytes=10) == "413 file_too_large"


def test_pixel_limit_and_decompression_bomb_are_422():
    assert code_of(image_bytes(400, 400)) == "422 image_too_large"
    assert code_of(png_header_only(50_000, 50_000), max_pixels=10**12) == "422 image_too_large"


def test_truncated_files_are_422():
    jpeg = image_bytes(64, 64, fmt="JPEG", quality=95)
    assert code_of(jpeg[: len(jpeg) // 2]) == "422 image_truncated"
    noisy = Image.effect_noise((64, 64), 50).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG")
    assert code_of(buffer.getvalue()[:300]) in ("422 image_truncated", "422 image_invalid")


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    assert decode_upload(buffer.getvalue(), "image", **LIMITS).image.size == (20, 40)
