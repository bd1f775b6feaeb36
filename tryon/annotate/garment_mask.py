"""Classical garment-mask extractor for product photos on a plain background.

Steps, per photo (worked at most ``work_long_side`` pixels long, the mask scaled back to the photo):

1. background colour: the per-channel median of a thin ring along the border;
2. foreground: a pixel whose colour (lightly smoothed, kornia) is further from the background than half
   the local contrast, with a low floor: the boundary of a dark garment falls mid-way through its
   anti-aliased edge, as in the reference masks, and a white garment on white still stands out;
3. morphology: closing bridges gaps, opening drops specks;
4. the largest connected component is kept (labels, tags and dust are not the garment);
5. holes are filled: background the border cannot reach is garment (a white print on a dark top).

Measured on VITON's val split (273 garments, vs cloth-mask): mean IoU 0.952, median 0.991. Of the 24
garments below 0.9, 16 are errors of the reference masks (light garments whose cloth-mask lost most of
its inside) and 8 are this extractor's: white garments with prints or stripes on the white background,
where the garment's white runs into the background's, so that part of it is cut away.

Morphology and labelling are separable max-filters on tensors: several times faster on a CPU than a
3x3 ``max_pool2d`` or kornia's morphology, which matters because the labelling runs them repeatedly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from PIL import Image

from tryon.annotate.errors import NoGarmentError
from tryon.annotate.photos import DEFAULT_MAX_PIXELS, check_photo_size
from tryon.pipeline import pil_to_tensor, resize_image


@dataclass(frozen=True)
class GarmentMaskSettings:
    """Colour thresholds are in [0, 1] units; sizes are in pixels at 256 pixels high, scaled with the photo."""

    work_long_side: int = 512
    border: int = 3  # width of the ring that samples the background colour
    smooth_sigma: float = 0.8  # Gaussian blur before measuring colour distance (JPEG noise); 0 = off
    colour_floor: float = 0.02  # the least distance from the background colour that counts as garment
    contrast_fraction: float = 0.5  # ... and at least this share of the largest distance nearby
    contrast_window: int = 7
    close_size: int = 5
    open_size: int = 3
    min_area: float = 0.005  # a mask smaller than this share of the photo means nothing was found


def extract_garment_masks(
    garments: torch.Tensor, settings: GarmentMaskSettings | None = None, sources: list[str] | None = None
) -> torch.Tensor:
    """Garment masks of product photos.

    Args:
        garments: ``(B, 3, H, W)`` in [-1, 1].
        sources: names of the photos for errors (default "garment photo i").

    Returns:
        ``(B, 1, H, W)`` float in {0, 1}.

    Raises:
        NoGarmentError: a photo in which nothing stands out from its background.
    """
    settings = settings or GarmentMaskSettings()
    size = tuple(garments.shape[-2:])
    scale = min(1.0, settings.work_long_side / max(size))
    work = resize_image(garments.float(), (max(1, round(size[0] * scale)), max(1, round(size[1] * scale))))
    rgb = (work.clamp(-1, 1) + 1) / 2
    masks = fill_holes(largest_component(foreground(rgb, settings)))
    sources = sources or [f"garment photo {i}" for i in range(len(garments))]
    for index, area in enumerate(masks.flatten(1).mean(1).tolist()):
        if area < settings.min_area:
            raise NoGarmentError(sources[index], "no garment found: nothing stands out from the background")
    return (resize_image(masks, size) > 0.5).float()


def extract_garment_mask(
    photo: Image.Image,
    settings: GarmentMaskSettings | None = None,
    source: str = "garment photo",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Mask of one product photo: bool ``(H, W)`` at the photo's size."""
    check_photo_size(photo.width, photo.height, source, max_pixels)
    return extract_garment_masks(pil_to_tensor(photo), settings, [source])[0, 0].numpy() > 0.5


def background_colour(rgb: torch.Tensor, border: int) -> torch.Tensor:
    """Per-channel median of the border ring: ``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, 1, 1)``."""
    border = max(1, min(border, rgb.shape[-2] // 2, rgb.shape[-1] // 2))
    ring = torch.cat(
        [
            rgb[..., :border, :].flatten(2),
            rgb[..., -border:, :].flatten(2),
            rgb[..., :, :border].flatten(2),
            rgb[..., :, -border:].flatten(2),
        ],
        dim=2,
    )
    return ring.median(dim=2).values[..., None, None]


def foreground(rgb: torch.Tensor, settings: GarmentMaskSettings) -> torch.Tensor:
    """``(B, 3, H, W)`` in [0, 1] -> ``(B, 1, H, W)`` {0, 1}: what differs from the background, cleaned."""
    factor = rgb.shape[-2] / 256
    if settings.smooth_sigma > 0:
        sigma = settings.smooth_sigma * max(factor, 1.0)
        side = _odd(4 * sigma)
        smoothed = gaussian_blur2d(rgb, (side, side), (sigma, sigma), border_type="replicate")
    else:
        smoothed = rgb
    background = background_colour(rgb, round(settings.border * factor))
    distance = (smoothed - background).abs().amax(1, keepdim=True)
    contrast = max_filter(distance, _odd(settings.contrast_window * factor))
    mask = (distance > torch.clamp(settings.contrast_fraction * contrast, min=settings.colour_floor)).float()
    close, open_ = _odd(settings.close_size * factor), _odd(settings.open_size * factor)
    mask = min_filter(max_filter(mask, close), close)
    return max_filter(min_filter(mask, open_), open_)


def _odd(size: float) -> int:
    return max(1, round(size) | 1)  # odd, so that a window has a centre


def max_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Maximum over a ``size`` x ``size`` window (odd ``size``), as two 1-D passes; edges replicate."""
    if size <= 1:
        return x
    radius = size // 2
    padded = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    rows = torch.stack([padded[..., i : i + x.shape[-1]] for i in range(size)]).amax(0)
    padded = F.pad(rows, (0, 0, radius, radius), mode="replicate")
    return torch.stack([padded[..., i : i + x.shape[-2], :] for i in range(size)]).amax(0)


def min_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    return -max_filter(-x, size)


def _max_8(x: torch.Tensor) -> torch.Tensor:
    """3x3 maximum of non-negative labels (zero padding)."""
    padded = F.pad(x, (1, 1, 0, 0))
    rows = torch.maximum(torch.maximum(padded[..., :-2], padded[..., 1:-1]), padded[..., 2:])
    padded = F.pad(rows, (0, 0, 1, 1))
    return torch.maximum(torch.maximum(padded[..., :-2, :], padded[..., 1:-1, :]), padded[..., 2:, :])


def _max_4(x: torch.Tensor) -> torch.Tensor:
    """Maximum over the pixel and its 4 direct neighbours, for non-negative labels."""
    padded = F.pad(x, (1, 1, 1, 1))
    across = torch.maximum(padded[..., 1:-1, :-2], padded[..., 1:-1, 2:])
    down = torch.maximum(padded[..., :-2, 1:-1], padded[..., 2:, 1:-1])
    return torch.maximum(x, torch.maximum(across, down))


def connected_labels(masks: torch.Tensor, connectivity: int = 8) -> torch.Tensor:
    """Label the connected components of ``(B, 1, H, W)`` {0, 1} masks: ``(B, H*W)`` int64, 0 outside.

    Each pixel starts with its own index; labels spread to the largest index in reach, and every pixel
    also jumps to the label of the pixel its label names (pointer jumping), so a component settles in
    far fewer steps than its length.
    """
    b, _, h, w = masks.shape
    inside = masks > 0.5
    # float32 holds every index exactly up to 2**24 pixels, far above the working size.
    index = torch.arange(1, h * w + 1, dtype=torch.float32, device=masks.device).view(1, 1, h, w)
    labels = torch.where(inside, index.expand(b, 1, h, w), 0.0)
    grow = _max_8 if connectivity == 8 else _max_4
    while True:
        grown = torch.where(inside, grow(labels), 0.0).flatten(1)
        pointed = grown.gather(1, (grown.long() - 1).clamp_min(0))
        grown = torch.where(grown > 0, torch.maximum(grown, pointed), 0.0).view(b, 1, h, w)
        if torch.equal(grown, labels):
            return labels.long().flatten(1)
        labels = grown


def largest_component(masks: torch.Tensor) -> torch.Tensor:
    """Keep each mask's largest 8-connected component: ``(B, 1, H, W)`` {0, 1} -> same."""
    labels = connected_labels(masks, connectivity=8)
    out = torch.zeros_like(masks)
    for i in range(len(masks)):
        present = labels[i][labels[i] > 0]
        if present.numel():
            out[i, 0] = (labels[i] == torch.bincount(present).argmax()).view(masks.shape[-2:]).float()
    return out


def fill_holes(masks: torch.Tensor) -> torch.Tensor:
    """Fill the background components that do not touch the border (4-connected): ``(B, 1, H, W)`` {0, 1}."""
    labels = connected_labels(1 - masks, connectivity=4).view(masks.shape)
    out = masks.clone()
    for i in range(len(masks)):
        ring = torch.cat([labels[i, 0, 0], labels[i, 0, -1], labels[i, 0, :, 0], labels[i, 0, :, -1]])
        outside = torch.isin(labels[i, 0], ring[ring > 0])
        out[i, 0] = ((masks[i, 0] > 0.5) | ~outside).float()
    return out
