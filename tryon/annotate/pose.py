"""Pose estimator: photo -> COCO-18 heatmaps at 1/stride of the working size, and their decoding.

Coordinates: heatmap pixel j covers working pixels [j*s, (j+1)*s), so a keypoint at working x lies at
heatmap x' = (x + 0.5) / s - 0.5, and back. Training targets are Gaussians of ``config.pose.sigma``
heatmap pixels, all zero for a missing keypoint, so the network learns to leave those out too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tryon.annotate.unet import AnnotatorNetwork
from tryon.config import TryOnConfig
from tryon.data.labels import NUM_KEYPOINTS
from tryon.representation import pose_heatmaps


class PoseEstimator(AnnotatorNetwork):
    """Person photo ``(B, 3, H, W)`` in [-1, 1] -> ``(B, 18, H / stride, W / stride)`` keypoint heatmaps (peak
    1 at a keypoint), at the working size ``config.data`` (divisible by 2**(levels - 1))."""

    kind = "pose"

    def __init__(self, config: TryOnConfig) -> None:
        super().__init__(config, NUM_KEYPOINTS, output_stride=config.pose.heatmap_stride)


def heatmap_targets(keypoints: torch.Tensor, heatmap_size: tuple[int, int], stride: int, sigma: float) -> torch.Tensor:
    """``(B, 18, 3)`` keypoints in working pixels -> ``(B, 18, h, w)`` Gaussian targets; missing points: zeros."""
    scaled = keypoints.clone().float()
    scaled[..., :2] = (keypoints[..., :2] + 0.5) / stride - 0.5
    return pose_heatmaps(scaled, heatmap_size[0], heatmap_size[1], sigma)


def pose_loss(heatmaps: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean squared error, scaled so that its values read like a per-keypoint error (the maps are mostly 0)."""
    mse = F.mse_loss(heatmaps.float(), targets) * 1000
    return {"total": mse, "mse": mse}


def decode_heatmaps(heatmaps: torch.Tensor, stride: int, threshold: float) -> torch.Tensor:
    """``(B, K, h, w)`` heatmaps -> ``(B, K, 3)`` keypoints (x, y, confidence) in working pixels.

    The peak is refined to sub-pixel precision with a parabola through the log of its neighbours (exact
    for a Gaussian); confidence is the peak's height, clamped to [0, 1]. Peaks below ``threshold`` are
    missing: (0, 0, 0).
    """
    b, k, h, w = heatmaps.shape
    flat = heatmaps.float().flatten(2)
    peak, index = flat.max(2)
    row, col = index // w, index % w
    dx = _log_parabola_offset(flat, index, col, w, 1)
    dy = _log_parabola_offset(flat, index, row, h, w)
    x = (col.float() + dx + 0.5) * stride - 0.5
    y = (row.float() + dy + 0.5) * stride - 0.5
    confidence = peak.clamp(0, 1)
    points = torch.stack([x, y, confidence], dim=-1)
    points[confidence < max(threshold, 1e-6)] = 0.0
    return points


def _log_parabola_offset(
    flat: torch.Tensor, index: torch.Tensor, position: torch.Tensor, length: int, step: int
) -> torch.Tensor:
    """Sub-pixel offset in [-0.5, 0.5] along one axis; 0 at the border, where a neighbour is missing."""
    inner = (position > 0) & (position < length - 1)
    before = flat.gather(2, (index - step).clamp(0, flat.shape[2] - 1)[..., None])[..., 0]
    after = flat.gather(2, (index + step).clamp(0, flat.shape[2] - 1)[..., None])[..., 0]
    centre = flat.gather(2, index[..., None])[..., 0]
    log_b, log_c, log_a = (v.clamp_min(1e-6).log() for v in (before, centre, after))
    curvature = 2 * log_c - log_b - log_a
    offset = torch.where(curvature > 1e-6, 0.5 * (log_a - log_b) / curvature.clamp_min(1e-6), 0.0)
    return torch.where(inner, offset.clamp(-0.5, 0.5), 0.0)
