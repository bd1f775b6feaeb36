"""Annotations as files in the VITON layout, named after each photo (``tryon annotate``)::

    OUT/pose/<stem>_keypoints.json   OpenPose JSON, COCO-18 ("pose_keypoints": 18 x (x, y, confidence))
    OUT/image-parse/<stem>.png       palette PNG: pixel values are LIP labels, colours only for viewing
    OUT/cloth-mask/<stem>.jpg        garment photos (--garments): 0 / 255, read back by thresholding at 128

Every photo is annotated before anything is written, so one bad photo leaves OUT as it was; each file is
written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from tryon.annotate.parser import LIP_PALETTE
from tryon.annotate.photos import DEFAULT_MAX_PIXELS, open_photo


def pose_document(keypoints: np.ndarray) -> dict:
    """``(18, 3)`` COCO-18 keypoints -> the OpenPose JSON object the dataset readers accept."""
    values = [round(float(v), 3) for v in np.asarray(keypoints, dtype=np.float64).reshape(-1)]
    return {"version": 1.0, "people": [{"pose_keypoints": values}]}


def parse_image(parse: np.ndarray) -> Image.Image:
    """``(H, W)`` uint8 LIP labels -> palette image (indices are the labels)."""
    labels = np.ascontiguousarray(parse, dtype=np.uint8)
    image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
    palette = [c for colour in LIP_PALETTE for c in colour]
    image.putpalette(palette + [0] * (768 - len(palette)))
    return image


def mask_image(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(np.where(np.asarray(mask), 255, 0).astype(np.uint8))  # 2-D uint8: mode "L"


def annotation_paths(out: Path, photo: Path, garments: bool) -> dict[str, Path]:
    stem = photo.stem
    if garments:
        return {"garment_mask": out / "cloth-mask" / f"{stem}.jpg"}
    return {"keypoints": out / "pose" / f"{stem}_keypoints.json", "parse": out / "image-parse" / f"{stem}.png"}


def annotate_files(
    photos: list[Path],
    out: Path,
    parser_dir: Path | None = None,
    pose_dir: Path | None = None,
    garments: bool = False,
    device: str = "cpu",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Path]:
    """Annotate ``photos`` (person photos, or product photos with ``garments``) into ``out``; returns the files."""
    if not photos:
        raise ValueError("no photos given")
    stems = Counter(Path(photo).stem for photo in photos)
    repeated = sorted(stem for stem, count in stems.items() if count > 1)
    if repeated:
        raise ValueError(f"several photos are named {repeated[0]!r}: their annotations would overwrite each other")
    results: list[tuple[Path, dict[str, Path], dict]] = []
    if garments:
        from tryon.annotate.garment_mask import extract_garment_mask

        for photo in map(Path, photos):
            mask = extract_garment_mask(open_photo(photo, max_pixels), source=str(photo), max_pixels=max_pixels)
            results.append((photo, annotation_paths(out, photo, True), {"garment_mask": mask}))
    else:
        from tryon.annotate.annotator import Annotator

        annotator = Annotator.from_checkpoints(parser_dir, pose_dir, device, max_pixels=max_pixels)
        for photo in map(Path, photos):
            keypoints, parse = annotator.annotate(open_photo(photo, max_pixels), source=str(photo))
            results.append((photo, annotation_paths(out, photo, False), {"keypoints": keypoints, "parse": parse}))
    written = []
    for _, paths, values in results:
        for key, path in paths.items():
            _write(path, key, values[key])
            written.append(path)
    return written


def _write(path: Path, key: str, value: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    if key == "keypoints":
        partial.write_text(json.dumps(pose_document(value)) + "\n")
    elif key == "parse":
        parse_image(value).save(partial, format="PNG")
    else:
        mask_image(value).save(partial, format="JPEG", quality=95)
    partial.replace(path)
