"""The cloth-agnostic person representation and the try-on region (CP-VTON, with VITON-HD's care).

Nothing of the worn garment may reach the networks except a coarse body silhouette: its colour, texture
and exact outline are removed, so that at test time any garment can be rendered onto the person.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tryon.config import RepresentationConfig
from tryon.data.labels import (
    HEAD_LABELS,
    LOWER_BODY_LABELS,
    NUM_KEYPOINTS,
    TOP_GARMENT_LABELS,
    TRYON_REGION_LABELS,
)

# 1 body-shape channel + 3 kept-RGB channels + one heatmap per keypoint.
REPRESENTATION_CHANNELS = 1 + 3 + NUM_KEYPOINTS


def label_mask(parse: torch.Tensor, labels: tuple[int, ...]) -> torch.Tensor:
    """``(B, H, W)`` int64 parse -> ``(B, 1, H, W)`` float mask of the pixels whose label is in ``labels``."""
    table = torch.zeros(256, dtype=torch.bool, device=parse.device)
    table[list(labels)] = True
    return table[parse].unsqueeze(1).float()


def body_shape(parse: torch.Tensor, downsample: int) -> torch.Tensor:
    """Blurred silhouette of the whole person.

    Pooling by ``downsample`` then upsampling bilinearly keeps the body's rough extent (where to put the
    garment) and drops the worn garment's outline (sleeve length, neckline).

    Returns:
        ``(B, 1, H, W)`` in [0, 1].
    """
    silhouette = (parse > 0).unsqueeze(1).float()
    h, w = parse.shape[-2:]
    coarse = F.avg_pool2d(silhouette, downsample, ceil_mode=True)
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def pose_heatmaps(keypoints: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """One Gaussian blob per keypoint.

    Args:
        keypoints: ``(B, K, 3)`` (x, y, confidence) in pixels of a ``height``×``width`` image;
            missing points (confidence 0) give an all-zero channel.
        sigma: blob radius in pixels.

    Returns:
        ``(B, K, H, W)`` in [0, 1].
    """
    ys = torch.arange(height, device=keypoints.device, dtype=torch.float32).view(1, 1, height, 1)
    xs = torch.arange(width, device=keypoints.device, dtype=torch.float32).view(1, 1, 1, width)
    x = keypoints[..., 0].float().unsqueeze(-1).unsqueeze(-1)
    y = keypoints[..., 1].float().unsqueeze(-1).unsqueeze(-1)
    present = (keypoints[..., 2] > 0).float().unsqueeze(-1).unsqueeze(-1)
    return torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) * present


def kept_appearance(person: torch.Tensor, parse: torch.Tensor) -> torch.Tensor:
    """Head and lower body in RGB, everything else 0 (mid-grey in [-1, 1]).

    Args:
        person: ``(B, 3, H, W)`` in [-1, 1]; parse: ``(B, H, W)`` LIP labels.

    Returns:
        ``(B, 3, H, W)``.
    """
    return person * label_mask(parse, HEAD_LABELS + LOWER_BODY_LABELS)


def person_representation(
    person: torch.Tensor, parse: torch.Tensor, keypoints: torch.Tensor, config: RepresentationConfig
) -> torch.Tensor:
    """The cloth-agnostic input of the warper and the generator.

    Args:
        person: ``(B, 3, H, W)`` in [-1, 1]; parse: ``(B, H, W)``; keypoints: ``(B, 18, 3)`` in pixels.
        config: silhouette pooling and heatmap size, given for a 256-pixel-high image and scaled to H.

    Returns:
        ``(B, REPRESENTATION_CHANNELS, H, W)``: [body shape ×2−1, kept RGB, heatmaps ×2−1].
    """
    h, w = person.shape[-2:]
    scale = h / 256
    shape = body_shape(parse, max(1, round(config.shape_downsample * scale)))
    heatmaps = pose_heatmaps(keypoints, h, w, config.heatmap_sigma * scale)
    return torch.cat([shape * 2 - 1, kept_appearance(person, parse), heatmaps * 2 - 1], dim=1)


def worn_garment_mask(parse: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` region of the top garment the person wears: the warper's target."""
    return label_mask(parse, TOP_GARMENT_LABELS)


def tryon_region(parse: torch.Tensor, warped_mask: torch.Tensor, feather: int = 5) -> torch.Tensor:
    """Soft mask of what a top try-on repaints: old garment, arms and the new garment's footprint.

    Head and lower body are never repainted, so their pixels come from the photo itself. The hard
    region is dilated by ``feather`` pixels, then box-blurred by as much, which gives a soft seam that
    still covers every pixel of the old garment fully.

    Args:
        parse: ``(B, H, W)``; warped_mask: ``(B, 1, H, W)`` in [0, 1] at the same size.

    Returns:
        ``(B, 1, H, W)`` in [0, 1].
    """
    keep = label_mask(parse, HEAD_LABELS)
    region = torch.maximum(label_mask(parse, TRYON_REGION_LABELS), (warped_mask > 0.5).float())
    if feather > 0:
        region = F.max_pool2d(region, 2 * feather + 1, stride=1, padding=feather)
        region = F.avg_pool2d(region, 2 * feather + 1, stride=1, padding=feather, count_include_pad=False)
    return region * (1 - keep)


class PersonRepresentation(nn.Module):
    """Module wrapper of :func:`person_representation`."""

    def __init__(self, config: RepresentationConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, person: torch.Tensor, parse: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
        return person_representation(person, parse, keypoints, self.config)
