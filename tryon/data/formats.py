"""Reading one file of each kind: photos, masks, parse maps and pose keypoints.

Every reader returns the internal convention (see DESIGN.md) and raises :class:`DataError`, naming the
file and the problem, on anything it cannot read. The ``*_uint8`` readers return the compact form kept
in RAM by ``InMemoryDataset``; the float readers are those plus a conversion.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tryon.data.labels import (
    BODY25_TO_COCO18,
    CIHP_TORSO_SKIN,
    FACE,
    NUM_BODY25_KEYPOINTS,
    NUM_KEYPOINTS,
    NUM_LIP_LABELS,
)

LAYOUTS = ("viton", "viton-hd")
# Keys OpenPose has used for body keypoints, newest first.
POSE_KEYS = ("pose_keypoints_2d", "pose_keypoints")


class DataError(ValueError):
    """A data file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def _open_image(path: str | Path) -> Image.Image:
    """Open and fully decode ``path`` (PIL is lazy: a truncated file only fails on load)."""
    if not Path(path).is_file():
        raise DataError(path, "missing file")
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(path, f"unreadable image ({error})") from error
    return image


def _check_size(path: str | Path, array: np.ndarray, size: Sequence[int] | None) -> None:
    height, width = array.shape[:2]
    if size is not None and (height, width) != tuple(size):
        raise DataError(path, f"wrong size: expected {size[0]}x{size[1]}, got {height}x{width}")


def read_image_uint8(path: str | Path, size: Sequence[int] | None = None) -> torch.Tensor:
    """RGB photo as uint8 (3, H, W); ``size`` is the expected (H, W), checked when given."""
    array = np.asarray(_open_image(path).convert("RGB"))
    _check_size(path, array, size)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def read_image(path: str | Path, size: Sequence[int] | None = None) -> torch.Tensor:
    """RGB photo as float (3, H, W) in [-1, 1]."""
    return image_to_float(read_image_uint8(path, size))


def read_mask_uint8(path: str | Path, size: Sequence[int] | None = None) -> torch.Tensor:
    """Binary mask as uint8 (1, H, W) in {0, 1}.

    Masks saved as 0/255 (VITON's cloth-mask is JPEG, so its edges hold in-between values) are
    thresholded at 128; a mask already holding only 0 and 1 is taken as it is.
    """
    array = np.asarray(_open_image(path).convert("L"))
    _check_size(path, array, size)
    binary = array if array.max(initial=0) <= 1 else (array >= 128)
    return torch.from_numpy(binary.astype(np.uint8))[None]


def read_mask(path: str | Path, size: Sequence[int] | None = None) -> torch.Tensor:
    """Binary mask as float (1, H, W) in {0, 1}."""
    return read_mask_uint8(path, size).float()


def read_parse_uint8(path: str | Path, layout: str, size: Sequence[int] | None = None) -> torch.Tensor:
    """Human parse as uint8 (H, W) in the internal LIP label space.

    ``layout`` "viton" files are LIP already; "viton-hd" files are CIHP and are converted.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    image = _open_image(path)
    # A palette PNG's pixels are the label indices; converting it would give its display colours.
    if image.mode not in ("P", "L", "I", "I;16"):
        raise DataError(path, f"parse map must be a single-channel or palette PNG, got mode {image.mode}")
    array = np.asarray(image)
    _check_size(path, array, size)
    top = int(array.max(initial=0))
    if top >= NUM_LIP_LABELS or int(array.min(initial=0)) < 0:
        raise DataError(path, f"labels out of range (max {top}, expected 0..{NUM_LIP_LABELS - 1})")
    labels = torch.from_numpy(array.astype(np.uint8))
    if layout == "viton-hd":
        # CIHP labels the bare skin of the neck/chest "torso-skin" (10). LIP has no such label and its
        # annotators mark the neck as face (13), which is what the VITON training data shows, so the neck
        # becomes face. (LIP's 10 is jumpsuits; a CIHP file never means that.)
        labels[labels == CIHP_TORSO_SKIN] = FACE
    return labels


def read_parse(path: str | Path, layout: str, size: Sequence[int] | None = None) -> torch.Tensor:
    """Human parse as int64 (H, W) LIP labels."""
    return read_parse_uint8(path, layout, size).long()


def read_keypoints(path: str | Path) -> torch.Tensor:
    """OpenPose JSON file as float (18, 3) COCO-18 keypoints (x, y, confidence) in pixels."""
    if not Path(path).is_file():
        raise DataError(path, "missing file")
    try:
        obj = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"invalid JSON ({error})") from error
    return keypoints_from_json_obj(obj, str(path))


def keypoints_from_json_obj(obj: Any, source: str) -> torch.Tensor:
    """OpenPose JSON object ``{"people": [{...}]}`` as float (18, 3) COCO-18 keypoints.

    The format is told by key and length, never guessed from values: 54 numbers are COCO-18 and 75 are
    BODY_25 (converted). Of several people the one with the highest summed confidence is kept.
    ``source`` names the origin (a file, a request field) in errors.
    """
    people = obj.get("people") if isinstance(obj, dict) else None
    if not isinstance(people, list):
        raise DataError(source, "no 'people' list in pose JSON")
    if not people:
        raise DataError(source, "no person in pose file")
    candidates = [_person_keypoints(person, source) for person in people]
    return max(candidates, key=lambda points: float(points[:, 2].sum()))


def _person_keypoints(person: Any, source: str) -> torch.Tensor:
    key = next((k for k in POSE_KEYS if isinstance(person, dict) and k in person), None)
    if key is None:
        found = sorted(person) if isinstance(person, dict) else type(person).__name__
        raise DataError(source, f"unknown keypoint format: no {' or '.join(POSE_KEYS)} key (found {found})")
    values = person[key]
    if not isinstance(values, list) or not all(_is_number(v) for v in values):
        raise DataError(source, f"unknown keypoint format: {key!r} is not a list of numbers")
    if len(values) == NUM_KEYPOINTS * 3:
        points = torch.tensor(values, dtype=torch.float32).reshape(NUM_KEYPOINTS, 3)
    elif len(values) == NUM_BODY25_KEYPOINTS * 3:
        body25 = torch.tensor(values, dtype=torch.float32).reshape(NUM_BODY25_KEYPOINTS, 3)
        points = body25[list(BODY25_TO_COCO18)]
    else:
        raise DataError(
            source,
            f"unknown keypoint format: {key!r} has {len(values)} numbers "
            f"(expected {NUM_KEYPOINTS * 3} for COCO-18 or {NUM_BODY25_KEYPOINTS * 3} for BODY_25)",
        )
    if not torch.isfinite(points).all():
        raise DataError(source, "non-finite keypoint values")
    points[points[:, 2] <= 0] = 0.0  # a missing point is (0, 0, 0), whatever x, y it carried
    return points


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def image_to_float(image: torch.Tensor) -> torch.Tensor:
    """uint8 image (..., 3, H, W) -> float in [-1, 1]."""
    return image.float() / 127.5 - 1.0


def image_to_uint8(image: torch.Tensor) -> torch.Tensor:
    """float image (..., 3, H, W) in [-1, 1] -> uint8 (rounded; exact inverse of :func:`image_to_float`)."""
    return ((image.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
