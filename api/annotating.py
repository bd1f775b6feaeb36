"""Worker-side annotation: one Annotator (human parser + pose network) per process, loaded lazily on the
first model photo and never in the parent, and the classical garment-mask extractor, which needs no network.

Importing this module imports torch: the tasks do it before they open a transaction (see api.tasks).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch  # noqa: F401  (the slow first import happens here, outside any transaction)
from PIL import Image

_annotators: dict[tuple, object] = {}


def annotator_for(parser: Path | None, pose: Path | None, device: str, max_pixels: int):
    """The process's Annotator for these checkpoints (None: the ones shipped in tryon/weights), loaded once.

    Raises tryon.checkpoint.CheckpointError (a ValueError) when a checkpoint is missing or broken; a failure
    is not remembered, so checkpoints put in place later are found without a restart.
    """
    key = (str(parser), str(pose), device, max_pixels)
    if key not in _annotators:
        from tryon.annotate.annotator import Annotator

        _annotators[key] = Annotator.from_checkpoints(parser, pose, device=device, max_pixels=max_pixels)
    return _annotators[key]


def open_rgb(data: bytes) -> Image.Image:
    """Stored image bytes -> a decoded RGB image (raises OSError when they do not decode)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def annotate_person(annotator, photo: Image.Image, source: str) -> tuple[list[list[float]], Image.Image]:
    """An RGB photo -> COCO-18 keypoints ``(18, 3)`` (x, y, confidence) in its pixels, missing = (0, 0, 0),
    and its parse: an L image of LIP labels 0..19 of the photo's size.

    Raises NoPersonError, EmptyImageError, ImageTooLargeError (tryon.annotate.errors).
    """
    keypoints, parse = annotator.annotate(photo, source)
    return [[float(v) for v in row] for row in keypoints.tolist()], Image.fromarray(parse.astype(np.uint8))


def garment_mask(photo: Image.Image, source: str, max_pixels: int) -> Image.Image:
    """An RGB product photo on a plain background -> its mask, an L image of the photo's size (255 = garment).

    Raises NoGarmentError, EmptyImageError, ImageTooLargeError (tryon.annotate.errors).
    """
    from tryon.annotate.garment_mask import extract_garment_mask

    mask = extract_garment_mask(photo, source=source, max_pixels=max_pixels)
    return Image.fromarray(mask.astype(np.uint8) * 255)
