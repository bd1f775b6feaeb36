"""Tiny synthetic try-on datasets, in the real layouts, for tests and smoke runs.

Each person is a simple figure drawn from its own keypoints, so photo, parse and pose agree: a head
(hair and face), a neck, a top in a garment colour/pattern over the torso and upper arms, bare forearms
and trousers, on a plain background. The in-shop garment shows the same colour/pattern flat on white,
so paired training has something to learn. Everything is deterministic for a seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from tryon.data.formats import image_to_float
from tryon.data.labels import (
    BACKGROUND,
    BODY25_TO_COCO18,
    CIHP_TORSO_SKIN,
    FACE,
    HAIR,
    LEFT_ARM,
    NUM_BODY25_KEYPOINTS,
    NUM_KEYPOINTS,
    PANTS,
    RIGHT_ARM,
    UPPER_CLOTHES,
)

# COCO-18 indices used to draw the figure.
NOSE, NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = range(8)
R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE, R_EYE, L_EYE, R_EAR, L_EAR = range(8, 18)
PATTERNS = ("solid", "horizontal-stripes", "vertical-stripes", "checks")


@dataclass(frozen=True)
class Garment:
    """A top's look: a pattern of two colours, with ``period`` repeats across the garment."""

    pattern: str
    colour: tuple[int, int, int]
    second_colour: tuple[int, int, int]
    period: int

    def paint(self, region: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) of the pattern laid over the bounding box of ``region`` (bool (H, W))."""
        rows, cols = np.nonzero(region)
        height, width = region.shape
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        v = (np.arange(height)[:, None] - top) / max(bottom - top, 1)  # garment coordinates in [0, 1]
        u = (np.arange(width)[None, :] - left) / max(right - left, 1)
        across, down = np.floor(u * self.period).astype(int), np.floor(v * self.period).astype(int)
        second = {
            "solid": np.zeros((height, width), bool),
            "horizontal-stripes": np.broadcast_to(down % 2 == 1, (height, width)),
            "vertical-stripes": np.broadcast_to(across % 2 == 1, (height, width)),
            "checks": (across + down) % 2 == 1,
        }[self.pattern]
        return np.where(second[..., None], self.second_colour, self.colour).astype(np.uint8)


def random_garment(rng: np.random.Generator) -> Garment:
    colours = rng.integers(20, 236, size=(2, 3))
    return Garment(
        pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
        colour=tuple(int(c) for c in colours[0]),
        second_colour=tuple(int(c) for c in colours[1]),
        period=int(rng.integers(3, 7)),
    )


def random_keypoints(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A standing figure facing the camera as COCO-18 float (18, 3): its right side is on the image's left."""
    height, width = size
    jitter = lambda amount: rng.uniform(-amount, amount)  # noqa: E731
    cx = width * (0.5 + jitter(0.05))
    shoulder, hip = width * (0.17 + jitter(0.02)), width * (0.11 + jitter(0.015))
    points = np.zeros((NUM_KEYPOINTS, 3))
    points[NOSE, :2] = cx, height * 0.14
    points[NECK, :2] = cx, height * 0.25
    points[[R_EYE, L_EYE], :2] = [[cx - width * 0.04, height * 0.12], [cx + width * 0.04, height * 0.12]]
    points[[R_EAR, L_EAR], :2] = [[cx - width * 0.08, height * 0.13], [cx + width * 0.08, height * 0.13]]
    for side, (s, e, w, h, k, a) in (
        (-1, (R_SHOULDER, R_ELBOW, R_WRIST, R_HIP, R_KNEE, R_ANKLE)),
        (1, (L_SHOULDER, L_ELBOW, L_WRIST, L_HIP, L_KNEE, L_ANKLE)),
    ):
        points[s, :2] = cx + side * shoulder, height * 0.27
        upper, lower = np.radians(rng.uniform(8, 35)), np.radians(rng.uniform(0, 45))
        points[e, :2] = points[s, :2] + height * 0.16 * np.array([side * np.sin(upper), np.cos(upper)])
        points[w, :2] = points[e, :2] + height * 0.15 * np.array([side * np.sin(lower), np.cos(lower)])
        points[h, :2] = cx + side * hip, height * 0.56
        points[k, :2] = cx + side * (hip + width * jitter(0.03)), height * 0.76
        points[a, :2] = cx + side * (hip + width * jitter(0.04)), height * 0.95
    points[:, 2] = rng.uniform(0.5, 1.0, NUM_KEYPOINTS)
    for ear in (R_EAR, L_EAR):  # some points go undetected in real pose files too
        if rng.random() < 0.3:
            points[ear] = 0.0
    return points.astype(np.float32)


def _xy(points: np.ndarray, *indices: int) -> list[tuple[float, float]]:
    return [(float(points[i, 0]), float(points[i, 1])) for i in indices]


def draw_parse(points: np.ndarray, size: tuple[int, int], neck_label: int = FACE) -> np.ndarray:
    """LIP parse uint8 (H, W) of the figure at ``points``; the neck gets ``neck_label`` (CIHP: torso-skin)."""
    height, width = size
    canvas = Image.new("L", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    limb = max(2, round(width * 0.09))
    for hip, knee, ankle in ((R_HIP, R_KNEE, R_ANKLE), (L_HIP, L_KNEE, L_ANKLE)):
        draw.line(_xy(points, hip, knee, ankle), fill=PANTS, width=round(limb * 1.4), joint="curve")
    draw.polygon(_xy(points, R_HIP, L_HIP, L_KNEE, R_KNEE), fill=PANTS)  # the seat, between the legs' tops
    draw.polygon(_xy(points, R_SHOULDER, L_SHOULDER, L_HIP, R_HIP), fill=UPPER_CLOTHES)
    for shoulder, elbow, wrist, label in (
        (R_SHOULDER, R_ELBOW, R_WRIST, RIGHT_ARM),
        (L_SHOULDER, L_ELBOW, L_WRIST, LEFT_ARM),
    ):
        draw.line(_xy(points, shoulder, elbow, wrist), fill=label, width=limb, joint="curve")
        sleeve_end = points[shoulder, :2] + 0.5 * (points[elbow, :2] - points[shoulder, :2])
        draw.line([*_xy(points, shoulder), tuple(sleeve_end)], fill=UPPER_CLOTHES, width=round(limb * 1.3))
    neck_x, neck_y = points[NECK, :2]
    draw.rectangle(
        [neck_x - width * 0.045, height * 0.19, neck_x + width * 0.045, neck_y + height * 0.01], fill=neck_label
    )
    head_x, head_y, radius_x, radius_y = points[NOSE, 0], points[NOSE, 1] - height * 0.01, width * 0.1, height * 0.08
    draw.ellipse(
        [head_x - radius_x * 1.1, head_y - radius_y * 1.2, head_x + radius_x * 1.1, head_y + radius_y * 0.6], fill=HAIR
    )
    draw.ellipse(
        [head_x - radius_x * 0.85, head_y - radius_y * 0.7, head_x + radius_x * 0.85, head_y + radius_y], fill=FACE
    )
    return np.asarray(canvas).copy()


def render_person(parse: np.ndarray, garment: Garment, rng: np.random.Generator) -> np.ndarray:
    """RGB uint8 (H, W, 3): plain background, skin, hair and trousers in flat colours, the top patterned."""
    skin = rng.integers(120, 236, 3)
    colours = {
        BACKGROUND: np.full(3, rng.integers(170, 236)),
        HAIR: rng.integers(10, 120, 3),
        FACE: skin,
        CIHP_TORSO_SKIN: skin,
        LEFT_ARM: skin,
        RIGHT_ARM: skin,
        PANTS: rng.integers(10, 160, 3),
    }
    image = np.zeros((*parse.shape, 3), np.uint8)
    for label, colour in colours.items():
        image[parse == label] = colour
    top = parse == UPPER_CLOTHES
    image[top] = garment.paint(top)[top]
    return image


def draw_cloth(garment: Garment, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """In-shop photo of ``garment`` flat on white: RGB uint8 (H, W, 3) and its mask bool (H, W)."""
    height, width = size
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    left, right, top, bottom = width * 0.28, width * 0.72, height * 0.2, height * 0.82
    draw.rectangle([left, top, right, bottom], fill=1)
    sleeve = width * 0.14
    draw.polygon([(left, top), (left - sleeve, top + height * 0.2), (left, top + height * 0.26)], fill=1)
    draw.polygon([(right, top), (right + sleeve, top + height * 0.2), (right, top + height * 0.26)], fill=1)
    mask = np.asarray(canvas).astype(bool)
    image = np.where(mask[..., None], garment.paint(mask), 255).astype(np.uint8)
    return image, mask


@dataclass(frozen=True)
class Figure:
    """One synthetic person and the garment it wears, as arrays."""

    person: np.ndarray  # uint8 (H, W, 3)
    parse: np.ndarray  # uint8 (H, W), LIP labels (neck as face)
    keypoints: np.ndarray  # float32 (18, 3), COCO-18
    cloth: np.ndarray  # uint8 (H, W, 3), the worn garment on white
    cloth_mask: np.ndarray  # bool (H, W)


def make_figure(seed: int | tuple[int, ...], size: tuple[int, int]) -> Figure:
    rng = np.random.default_rng(seed)
    garment = random_garment(rng)
    keypoints = random_keypoints(rng, size)
    parse = draw_parse(keypoints, size)
    person = render_person(parse, garment, rng)
    cloth, cloth_mask = draw_cloth(garment, size)
    return Figure(person, parse, keypoints, cloth, cloth_mask)


def synthetic_sample(
    size: tuple[int, int] = (64, 48), seed: int = 0, garment_seed: int | None = None
) -> dict[str, Any]:
    """One sample in the dataset's format (see tryon.data.dataset), made in memory without files.

    The garment is the one the person wears, or that of person ``garment_seed`` (an unpaired sample).
    """
    figure = make_figure(seed, size)
    garment_figure = figure if garment_seed is None else make_figure(garment_seed, size)
    garment_id = seed if garment_seed is None else garment_seed
    to_image = lambda array: image_to_float(torch.from_numpy(array.copy()).permute(2, 0, 1))  # noqa: E731
    return {
        "person": to_image(figure.person),
        "parse": torch.from_numpy(figure.parse.astype(np.int64)),
        "keypoints": torch.from_numpy(figure.keypoints.copy()),
        "garment": to_image(garment_figure.cloth),
        "garment_mask": torch.from_numpy(garment_figure.cloth_mask.astype(np.float32))[None],
        "person_name": f"{seed:06d}_0.jpg",
        "garment_name": f"{garment_id:06d}_1.jpg",
    }


# --- writing a dataset -------------------------------------------------------------------------------------

LAYOUT_DIRS = {"viton": ("image-parse", "pose"), "viton-hd": ("image-parse-v3", "openpose_json")}


def write_synthetic_dataset(
    root: Path,
    layout: str = "viton",
    num_pairs: int = 4,
    size: tuple[int, int] = (64, 48),
    splits: tuple[str, ...] = ("train", "val"),
    seed: int = 0,
) -> Path:
    """Write a tiny dataset in ``layout`` ("viton" or "viton-hd") under ``root``; returns ``root``.

    ``root/<split>_pairs.txt`` pairs each person with its own garment; every split but "train" also gets
    ``<split>_pairs_unpaired.txt`` (each person with the next person's garment). VITON writes LIP parse
    maps and COCO-18 ``pose_keypoints``; VITON-HD writes CIHP parse maps (neck = torso-skin) and BODY_25
    ``pose_keypoints_2d``, as the real datasets do. Person ids run on across splits: 000000_0.jpg, ...
    """
    if layout not in LAYOUT_DIRS:
        raise ValueError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUT_DIRS)}")
    if num_pairs < 1:
        raise ValueError(f"num_pairs must be at least 1, got {num_pairs}")
    root = Path(root)
    for split_index, split in enumerate(splits):
        ids = [split_index * num_pairs + i for i in range(num_pairs)]
        for person_id in ids:
            _write_person(root / split, layout, person_id, make_figure((seed, person_id), size), size)
        _write_pairs(root / f"{split}_pairs.txt", ids, ids)
        if split != "train" and num_pairs > 1:
            _write_pairs(root / f"{split}_pairs_unpaired.txt", ids, ids[1:] + ids[:1])
    return root


def _write_pairs(path: Path, person_ids: list[int], garment_ids: list[int]) -> None:
    lines = [f"{p:06d}_0.jpg {g:06d}_1.jpg\n" for p, g in zip(person_ids, garment_ids, strict=True)]
    path.write_text("".join(lines))


def _write_person(split_dir: Path, layout: str, person_id: int, figure: Figure, size: tuple[int, int]) -> None:
    parse_dir, pose_dir = LAYOUT_DIRS[layout]
    for name in ("image", "cloth", "cloth-mask", parse_dir, pose_dir):
        (split_dir / name).mkdir(parents=True, exist_ok=True)
    stem, cloth_stem = f"{person_id:06d}_0", f"{person_id:06d}_1"
    Image.fromarray(figure.person).save(split_dir / "image" / f"{stem}.jpg", quality=95)
    Image.fromarray(figure.cloth).save(split_dir / "cloth" / f"{cloth_stem}.jpg", quality=95)
    Image.fromarray(figure.cloth_mask.astype(np.uint8) * 255).save(
        split_dir / "cloth-mask" / f"{cloth_stem}.jpg", quality=95
    )
    if layout == "viton":
        parse, pose = figure.parse, {"pose_keypoints": _flat(figure.keypoints)}
    else:
        parse = draw_parse(figure.keypoints, size, neck_label=CIHP_TORSO_SKIN)
        pose = {"person_id": [-1], "pose_keypoints_2d": _flat(coco18_to_body25(figure.keypoints))}
    _save_palette_png(parse, split_dir / parse_dir / f"{stem}.png")
    document = {"version": 1.3, "people": [pose]}
    (split_dir / pose_dir / f"{stem}_keypoints.json").write_text(json.dumps(document))


def _flat(points: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in points.reshape(-1)]


def _save_palette_png(labels: np.ndarray, path: Path) -> None:
    """Labels as a palette PNG, like the real parse maps: indices are labels, colours only for viewing."""
    image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
    palette = np.random.default_rng(7).integers(0, 256, (256, 3), dtype=np.uint8)
    palette[0] = 0
    image.putpalette(palette.reshape(-1).tolist())
    image.save(path)


def coco18_to_body25(points: np.ndarray) -> np.ndarray:
    """COCO-18 (18, 3) -> BODY_25 (25, 3): the inverse of the reader's map, plus mid-hip and feet."""
    body25 = np.zeros((NUM_BODY25_KEYPOINTS, 3), np.float32)
    body25[list(BODY25_TO_COCO18)] = points
    hips = points[[R_HIP, L_HIP]]
    if (hips[:, 2] > 0).all():
        body25[8] = [*hips[:, :2].mean(0), hips[:, 2].min()]
    for first, ankle in ((19, L_ANKLE), (22, R_ANKLE)):  # big toe, small toe, heel of each foot
        if points[ankle, 2] > 0:
            x, y, confidence = points[ankle]
            body25[first : first + 3] = [[x + 1, y + 2, confidence], [x + 2, y + 2, confidence], [x, y + 1, confidence]]
    return body25
