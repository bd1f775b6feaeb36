"""TryOnPipeline: load a checkpoint once, render batches. The only thing the service imports.

The networks run at the checkpoint's working size (256×192 for the demo). The result is assembled at
the size asked for: the garment is warped at that size with the same TPS (its points are normalised),
the generator's rendering and composition mask are upsampled, and outside the try-on region the photo
keeps its own pixels. So a 1024×768 preview shows the garment's real texture, not an upscaled 256×192.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tryon.checkpoint import load_checkpoint
from tryon.config import TryOnConfig
from tryon.data.labels import TRYON_REGION_LABELS
from tryon.representation import label_mask, tryon_region

DEMO_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "demo"


@dataclass
class RenderOutput:
    """Everything at the result size, on the CPU. Images ``(B, 3, h, w)`` in [-1, 1], masks ``(B, 1, h, w)``."""

    image: torch.Tensor
    baseline: torch.Tensor  # warped garment pasted on the agnostic photo: what the generator adds
    warped_garment: torch.Tensor
    warped_mask: torch.Tensor
    tryon_region: torch.Tensor


def resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear, antialiased when shrinking; a no-op at the same size."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def resize_labels(parse: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, H, W)`` labels -> ``(B, h, w)`` by nearest neighbour (labels must not be blended)."""
    if tuple(parse.shape[-2:]) == tuple(size):
        return parse
    return F.interpolate(parse.unsqueeze(1).float(), size=size, mode="nearest").squeeze(1).long()


def scale_keypoints(keypoints: torch.Tensor, from_size: tuple[int, int], to_size: tuple[int, int]) -> torch.Tensor:
    """Rescale ``(B, K, 3)`` pixel keypoints between image sizes; missing points stay (0, 0, 0)."""
    scale = torch.tensor([to_size[1] / from_size[1], to_size[0] / from_size[0], 1.0], device=keypoints.device)
    return keypoints.float() * scale


class TryOnPipeline:
    """Load once, render many. Not thread-safe: use one per worker process."""

    def __init__(self, model, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config: TryOnConfig = model.config
        self.size = (self.config.data.height, self.config.data.width)
        self.checkpoint_path: Path | None = None  # set by from_checkpoint
        self.annotator = None  # tryon.annotate.Annotator for render_photo; loaded on first use when unset

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> TryOnPipeline:
        """Load a checkpoint directory (default: the demo checkpoint shipped with the package)."""
        path = Path(path or DEMO_CHECKPOINT)
        pipeline = cls(load_checkpoint(path, map_location="cpu"), device)
        pipeline.checkpoint_path = path
        return pipeline

    @torch.inference_mode()
    def render(self, person, keypoints, parse, garment, garment_mask, size=None, return_intermediates=False):
        """Render garments onto persons.

        Args:
            person: ``(B, 3, H, W)`` in [-1, 1], any H, W.
            keypoints: ``(B, 18, 3)`` COCO-18 in pixels of ``person``.
            parse: ``(B, H, W)`` int64 LIP labels.
            garment: ``(B, 3, Hg, Wg)`` in [-1, 1]; garment_mask: ``(B, 1, Hg, Wg)`` in {0, 1}.
            size: ``(h, w)`` of the result; default the person's own size.

        Returns:
            ``(B, 3, h, w)`` in [-1, 1], or a :class:`RenderOutput` with ``return_intermediates``.
        """
        in_size = tuple(person.shape[-2:])
        size = tuple(size or in_size)
        net = self._run_networks(person, keypoints, parse, garment, garment_mask, in_size)
        out = self._assemble(net, person, parse, garment, garment_mask, size)
        return out if return_intermediates else out.image

    def render_photo(
        self, person, garment, garment_mask=None, keypoints=None, parse=None, size=None, return_intermediates=False
    ):
        """:meth:`render` for raw photos: the pose, parse and garment mask not given come from the annotators.

        Args:
            person: ``(B, 3, H, W)`` in [-1, 1]; garment: ``(B, 3, Hg, Wg)`` in [-1, 1].
            garment_mask, keypoints, parse: as in :meth:`render`, or None to have them annotated.

        Uses ``self.annotator`` (default: the annotator checkpoints shipped with the package, loaded once
        on the pipeline's device). Raises ``tryon.annotate.NoPersonError`` for a photo without a person.
        """
        if keypoints is None or parse is None:
            found_keypoints, found_parse = self._annotator().annotate_tensors(person)
            keypoints = found_keypoints if keypoints is None else keypoints
            parse = found_parse if parse is None else parse
        if garment_mask is None:
            garment_mask = self._annotator().garment_masks(garment)
        return self.render(person, keypoints, parse, garment, garment_mask, size, return_intermediates)

    def _annotator(self):
        if self.annotator is None:
            from tryon.annotate.annotator import Annotator  # the annotators import this module

            self.annotator = Annotator.from_checkpoints(device=self.device)
        return self.annotator

    def _run_networks(self, person, keypoints, parse, garment, garment_mask, in_size) -> dict[str, torch.Tensor]:
        dev = self.device
        with torch.autocast(dev.type, enabled=dev.type == "cuda"):
            return self.model(
                resize_image(person.to(dev).float(), self.size),
                resize_labels(parse.to(dev), self.size),
                scale_keypoints(keypoints.to(dev), in_size, self.size),
                resize_image(garment.to(dev).float(), self.size),
                (resize_image(garment_mask.to(dev).float(), self.size) > 0.5).float(),
            )

    def _assemble(self, net, person, parse, garment, garment_mask, size) -> RenderOutput:
        dev = self.device
        garment_hr = torch.cat(
            [resize_image(garment.to(dev).float(), size), resize_image(garment_mask.to(dev).float(), size)], 1
        )
        warped = self.model.warper.warp(garment_hr, net["points"].float())
        warped_garment, warped_mask = warped[:, :3], warped[:, 3:].clamp(0, 1)
        composition = resize_image(net["composition"].float(), size)
        generated = composition * warped_garment + (1 - composition) * resize_image(net["rendered"].float(), size)

        photo = resize_image(person.to(dev).float(), size)
        parse_hr = resize_labels(parse.to(dev), size)
        region = tryon_region(parse_hr, warped_mask, feather=max(1, round(3 * size[0] / 256)))
        image = region * generated + (1 - region) * photo
        # The paste baseline: the photo with its try-on region blanked, the warped garment laid on top.
        agnostic = photo * (1 - label_mask(parse_hr, TRYON_REGION_LABELS))
        baseline = warped_mask * warped_garment + (1 - warped_mask) * agnostic
        return RenderOutput(
            image=image.clamp(-1, 1).cpu(),
            baseline=baseline.clamp(-1, 1).cpu(),
            warped_garment=warped_garment.clamp(-1, 1).cpu(),
            warped_mask=warped_mask.cpu(),
            tryon_region=region.cpu(),
        )


def open_rgb(path) -> Image.Image:
    """Open an image file as RGB, with its EXIF orientation applied; a clear ValueError if unreadable."""
    from PIL import ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except FileNotFoundError:
        raise ValueError(f"{path}: missing file") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: unreadable image ({error})") from None


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> ``(1, 3, H, W)`` in [-1, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0) / 127.5 - 1


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """``(3, H, W)`` or ``(1, 3, H, W)`` in [-1, 1] -> PIL RGB."""
    if image.dim() == 4:
        image = image[0]
    array = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte()
    return Image.fromarray(array.permute(1, 2, 0).numpy())


def load_person_inputs(image: Image.Image, keypoints, parse) -> dict[str, torch.Tensor]:
    """A model photo as batched tensors.

    Args:
        image: PIL image; keypoints: ``(18, 3)`` COCO-18 array in pixels of ``image``;
        parse: ``(H, W)`` LIP label array of the same size as ``image``.

    Returns:
        ``{"person": (1, 3, H, W), "keypoints": (1, 18, 3), "parse": (1, H, W) int64}``.
    """
    parse = torch.as_tensor(np.asarray(parse), dtype=torch.int64)
    if tuple(parse.shape) != (image.height, image.width):
        raise ValueError(f"parse is {tuple(parse.shape)} but the photo is {(image.height, image.width)}")
    keypoints = torch.as_tensor(np.asarray(keypoints, dtype=np.float32))
    if tuple(keypoints.shape) != (18, 3):
        raise ValueError(f"keypoints must be (18, 3) COCO-18, got {tuple(keypoints.shape)}")
    return {"person": pil_to_tensor(image), "keypoints": keypoints.unsqueeze(0), "parse": parse.unsqueeze(0)}


def load_garment_inputs(image: Image.Image, mask=None) -> dict[str, torch.Tensor]:
    """A garment photo (and mask: PIL or array, nonzero = garment) as batched tensors.

    Returns:
        ``{"garment": (1, 3, H, W), "garment_mask": (1, 1, H, W)}``; with no mask, the whole image.
    """
    garment = pil_to_tensor(image)
    if mask is None:
        garment_mask = torch.ones_like(garment[:, :1])
    else:
        array = np.asarray(mask.convert("L") if isinstance(mask, Image.Image) else mask)
        garment_mask = torch.from_numpy((array > 127).astype(np.float32))[None, None]
        if garment_mask.shape[-2:] != garment.shape[-2:]:
            raise ValueError(f"garment mask is {tuple(array.shape)} but the garment is {tuple(garment.shape[-2:])}")
    return {"garment": garment, "garment_mask": garment_mask}
