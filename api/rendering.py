"""Worker-side rendering: one TryOnPipeline per checkpoint per process, batched renders, encodings.

The pipeline is loaded lazily, on the first render in a worker process, and never in the parent.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

DEMO = "demo"
_pipelines: dict[str, object] = {}


def pipeline_for(checkpoint: str, device: str):
    """The process's pipeline for ``checkpoint`` ("demo": the one shipped in the package), loaded once."""
    if checkpoint not in _pipelines:
        from tryon.pipeline import TryOnPipeline

        _pipelines[checkpoint] = TryOnPipeline.from_checkpoint(None if checkpoint == DEMO else checkpoint, device)
    return _pipelines[checkpoint]


def loaded_checkpoints() -> list[str]:
    return list(_pipelines)


@dataclass
class RenderItem:
    """One preview's inputs: the photo, its COCO-18 keypoints and LIP parse, and its garments in order."""

    person: Image.Image
    keypoints: np.ndarray  # (18, 3) in pixels of ``person``
    parse: np.ndarray  # (H, W) uint8 LIP labels
    garments: list[tuple[Image.Image, Image.Image]] = field(default_factory=list)  # (image, mask L)


def _person_batch(items: Sequence[RenderItem], size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Persons, parses and keypoints brought to ``size`` so that photos of any size stack into a batch."""
    from tryon.pipeline import load_person_inputs, resize_image, resize_labels, scale_keypoints

    people, parses, points = [], [], []
    for item in items:
        inputs = load_person_inputs(item.person, item.keypoints, item.parse)
        own = tuple(inputs["person"].shape[-2:])
        people.append(resize_image(inputs["person"], size))
        parses.append(resize_labels(inputs["parse"], size))
        points.append(scale_keypoints(inputs["keypoints"], own, size))
    return {"person": torch.cat(people), "parse": torch.cat(parses), "keypoints": torch.cat(points)}


def _garment_batch(garments: Sequence[tuple[Image.Image, Image.Image]], size: tuple[int, int]):
    from tryon.pipeline import load_garment_inputs, resize_image

    images, masks = [], []
    for image, mask in garments:
        inputs = load_garment_inputs(image, mask)
        images.append(resize_image(inputs["garment"], size))
        masks.append((resize_image(inputs["garment_mask"], size) > 0.5).float())
    return torch.cat(images), torch.cat(masks)


def render_batch(pipe, items: Sequence[RenderItem], size: tuple[int, int]) -> list[Image.Image]:
    """Render every item at ``size`` (h, w) in batches, garment by garment.

    Step k renders the k-th garment of every item that has one onto the result of step k-1, so a
    single-garment batch is one call and an outfit is rendered garment after garment.
    """
    from tryon.pipeline import tensor_to_pil

    batch = _person_batch(items, size)
    current = batch["person"].clone()
    steps = max(len(item.garments) for item in items)
    for step in range(steps):
        rows = [i for i, item in enumerate(items) if len(item.garments) > step]
        garment, mask = _garment_batch([items[i].garments[step] for i in rows], size)
        index = torch.tensor(rows)
        current[index] = pipe.render(
            current[index], batch["keypoints"][index], batch["parse"][index], garment, mask, size=size
        )
    return [tensor_to_pil(current[i]) for i in range(len(items))]


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
