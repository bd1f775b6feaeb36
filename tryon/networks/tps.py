"""Thin-plate-spline warping on kornia, with the convention pinned in one place.

All control points are ``(B, N, 2)`` as ``(x, y)`` in the normalised ``grid_sample`` frame
(``align_corners=False``: pixel centre ``x`` maps to ``(2x + 1) / W - 1``).

kornia's ``warp_image_tps`` samples *from output space back into input space*, so its weights come from
``get_tps_transform(target, source)`` (reversed) and its kernel centres are the source points. Getting
this backwards gives a warp of the right shape that moves garments the wrong way; ``tests`` pin it with
identity and affine maps.
"""

from __future__ import annotations

import torch
from kornia.geometry.transform import get_tps_transform, warp_image_tps
from torch import nn


def control_grid(grid_size: int, batch: int = 1, device=None, dtype=torch.float32) -> torch.Tensor:
    """Regular ``grid_size``×``grid_size`` control points spanning [-1, 1]², row-major.

    Returns:
        ``(batch, grid_size**2, 2)`` as ``(x, y)``.
    """
    axis = torch.linspace(-1.0, 1.0, grid_size, device=device, dtype=dtype)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([xs, ys], dim=-1).reshape(1, grid_size * grid_size, 2)
    return grid.expand(batch, -1, -1).contiguous()


def tps_warp(image: torch.Tensor, target_points: torch.Tensor, source_points: torch.Tensor) -> torch.Tensor:
    """Warp ``image`` so that what lies at ``source_points`` lands at ``target_points``.

    Args:
        image: ``(B, C, H, W)`` at any resolution (points are normalised, so one set of points warps
            the same garment at 64×48 or 1024×768 alike).
        target_points: ``(B, N, 2)`` where the control points end up in the output.
        source_points: ``(B, N, 2)`` where each control point is taken from in ``image``.

    Returns:
        ``(B, C, H, W)``; pixels sampled from outside ``image`` are zero.
    """
    # TPS solves in float32 at least: half precision makes the kernel system singular.
    dtype = image.dtype
    target, source = target_points.float(), source_points.float()
    kernel_weights, affine_weights = get_tps_transform(target, source)
    warped = warp_image_tps(image.float(), source, kernel_weights, affine_weights, align_corners=False)
    return warped.to(dtype)


def grid_smoothness(points: torch.Tensor, grid_size: int) -> torch.Tensor:
    """Second-difference penalty that keeps the TPS grid from folding or zig-zagging.

    Args:
        points: ``(B, grid_size**2, 2)`` predicted source points.

    Returns:
        Scalar: mean squared second difference along rows and columns.
    """
    grid = points.view(points.shape[0], grid_size, grid_size, 2)
    along_x = grid[:, :, 2:] - 2 * grid[:, :, 1:-1] + grid[:, :, :-2]
    along_y = grid[:, 2:] - 2 * grid[:, 1:-1] + grid[:, :-2]
    return along_x.pow(2).mean() + along_y.pow(2).mean()


class TPSWarp(nn.Module):
    """Module wrapper of :func:`tps_warp` with a fixed regular target grid."""

    def __init__(self, grid_size: int) -> None:
        super().__init__()
        self.grid_size = grid_size
        self.register_buffer("target", control_grid(grid_size), persistent=False)

    def forward(self, image: torch.Tensor, source_points: torch.Tensor) -> torch.Tensor:
        target = self.target.to(source_points).expand(source_points.shape[0], -1, -1)
        return tps_warp(image, target, source_points)
