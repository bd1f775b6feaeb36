"""Annotator: raw photos -> pose keypoints, human parse and garment masks. Load once, annotate many.

Photos of any size up to ``max_pixels`` are letterboxed into each network's working frame (see
:mod:`tryon.annotate.photos`); keypoints come back in the photo's pixels and the parse at its resolution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tryon.annotate.checkpoint import load_annotator
from tryon.annotate.errors import NoPersonError
from tryon.annotate.garment_mask import GarmentMaskSettings, extract_garment_masks
from tryon.annotate.parser import HumanParser
from tryon.annotate.photos import DEFAULT_MAX_PIXELS, Frame, check_photo_size
from tryon.annotate.pose import PoseEstimator, decode_heatmaps
from tryon.pipeline import pil_to_tensor, resize_labels

# The parse is decided (argmax) at most this long, then enlarged by nearest neighbour: upsampling 20
# logit maps to a 40-megapixel photo would take gigabytes for no visible gain.
MAX_DECISION_SIDE = 1024


class Annotator:
    """The parser and the pose network, on one device. Not thread-safe: one per worker process."""

    def __init__(
        self,
        parser: HumanParser,
        pose: PoseEstimator,
        device: str | torch.device = "cpu",
        garment_settings: GarmentMaskSettings | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.device = torch.device(device)
        self.parser = parser.to(self.device).eval()
        self.pose = pose.to(self.device).eval()
        self.garment_settings = garment_settings or GarmentMaskSettings()
        self.max_pixels = max_pixels

    @classmethod
    def from_checkpoints(
        cls, parser_dir: str | Path | None = None, pose_dir: str | Path | None = None, device="cpu", **kwargs
    ) -> Annotator:
        """Load both networks (default: the checkpoints shipped in tryon/weights/parser and tryon/weights/pose)."""
        return cls(load_annotator(parser_dir, "parser"), load_annotator(pose_dir, "pose"), device, **kwargs)

    # -- person photos ----------------------------------------------------------------------------

    def annotate(self, photo: Image.Image, source: str = "photo") -> tuple[np.ndarray, np.ndarray]:
        """One person photo -> keypoints float32 ``(18, 3)`` COCO-18 in its pixels, parse uint8 ``(H, W)`` LIP.

        Raises:
            EmptyImageError, ImageTooLargeError, NoPersonError (all ValueErrors naming ``source``).
        """
        check_photo_size(photo.width, photo.height, source, self.max_pixels)
        keypoints, parse = self.annotate_tensors(pil_to_tensor(photo), [source])
        return keypoints[0].numpy(), parse[0].to(torch.uint8).numpy()

    @torch.inference_mode()
    def annotate_tensors(
        self, person: torch.Tensor, sources: list[str] | None = None, require_person: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched: ``(B, 3, H, W)`` in [-1, 1] -> keypoints ``(B, 18, 3)`` and parse ``(B, H, W)`` int64, on the CPU.

        With ``require_person`` a photo in which the parser finds almost no person, or the pose network too
        few keypoints, raises NoPersonError; without it, what was found is returned as it is.
        """
        h, w = person.shape[-2:]
        sources = sources or [f"photo {i}" for i in range(len(person))]
        check_photo_size(w, h, sources[0], self.max_pixels)
        person = person.to(self.device).float()
        parse = self._parse(person)
        keypoints = self._keypoints(person)
        if require_person:
            self._check_person(parse, keypoints, sources)
        return keypoints.cpu(), parse.cpu()

    def _parse(self, person: torch.Tensor) -> torch.Tensor:
        frame = Frame.fit(tuple(person.shape[-2:]), self.parser.work_size)
        logits = frame.crop(self._run(self.parser, frame.to_work(person)))
        photo_size = frame.photo_size
        shrink = min(1.0, MAX_DECISION_SIDE / max(photo_size))
        decision_size = (max(1, round(photo_size[0] * shrink)), max(1, round(photo_size[1] * shrink)))
        logits = F.interpolate(logits, size=decision_size, mode="bilinear", align_corners=False)
        return resize_labels(logits.argmax(1), photo_size)

    def _keypoints(self, person: torch.Tensor) -> torch.Tensor:
        frame = Frame.fit(tuple(person.shape[-2:]), self.pose.work_size)
        heatmaps = self._run(self.pose, frame.to_work(person))
        points = decode_heatmaps(heatmaps, self.pose.stride, self.pose.config.pose.confidence_threshold)
        return frame.keypoints_to_photo(points)

    def _run(self, network: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            return network(images).float()

    def _check_person(self, parse: torch.Tensor, keypoints: torch.Tensor, sources: list[str]) -> None:
        min_fraction = self.parser.config.parser.min_person_fraction
        min_keypoints = self.pose.config.pose.min_keypoints
        fractions = (parse > 0).flatten(1).float().mean(1).tolist()
        counts = (keypoints[..., 2] > 0).sum(1).tolist()
        for source, fraction, count in zip(sources, fractions, counts):
            if fraction < min_fraction or count < min_keypoints:
                raise NoPersonError(
                    source,
                    f"no person found ({fraction:.1%} of the pixels look like a person, {count} of 18 "
                    f"keypoints are confident; at least {min_fraction:.0%} and {min_keypoints} are needed)",
                )

    # -- garment photos ---------------------------------------------------------------------------

    def garment_mask(self, photo: Image.Image, source: str = "garment photo") -> np.ndarray:
        """Mask of a product photo on a plain background: bool ``(H, W)``. Raises NoGarmentError, ..."""
        check_photo_size(photo.width, photo.height, source, self.max_pixels)
        return self.garment_masks(pil_to_tensor(photo), [source])[0, 0].numpy() > 0.5

    @torch.inference_mode()
    def garment_masks(self, garments: torch.Tensor, sources: list[str] | None = None) -> torch.Tensor:
        """Batched: ``(B, 3, H, W)`` in [-1, 1] -> ``(B, 1, H, W)`` {0, 1}, on the CPU."""
        masks = extract_garment_masks(garments.to(self.device), self.garment_settings, sources)
        return masks.cpu()
