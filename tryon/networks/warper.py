"""Geometric matching: regress a TPS grid that warps the in-shop garment onto the person.

CP-VTON's GMM, slimmed: two feature pyramids, a global correlation, and a regressor to a
``grid_size``×``grid_size`` grid of source points. The regressor's last layer starts near zero, so an
untrained warper is (within a pixel of) the identity warp.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tryon.config import WarperConfig
from tryon.networks.blocks import down_block
from tryon.networks.tps import TPSWarp, control_grid


class FeatureExtractor(nn.Module):
    """Strided conv pyramid: ``(B, C, H, W)`` -> ``(B, channels[-1], H / 2**L, W / 2**L)``, L2-normalised."""

    def __init__(self, in_channels: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        widths = (in_channels, *channels)
        self.layers = nn.Sequential(*[down_block(a, b, norm=i > 0) for i, (a, b) in enumerate(zip(widths, widths[1:]))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.layers(x), dim=1)


def correlation(person_features: torch.Tensor, garment_features: torch.Tensor) -> torch.Tensor:
    """Global correlation of every garment location with every person location.

    Args:
        person_features, garment_features: ``(B, C, h, w)``, L2-normalised along C.

    Returns:
        ``(B, h*w, h, w)``: channel ``k`` holds the similarity of garment location ``k`` to each
        person location, which is what lets the regressor read off where things moved.
    """
    b, c, h, w = person_features.shape
    person = person_features.flatten(2)  # (B, C, h*w)
    garment = garment_features.flatten(2).transpose(1, 2)  # (B, h*w, C)
    return torch.bmm(garment, person).view(b, h * w, h, w)


class Warper(nn.Module):
    """Person representation + garment -> TPS source points and the warped garment.

    Args:
        config: widths and grid size.
        representation_channels: channels of the cloth-agnostic person representation.
        height, width: working size; both divisible by ``2 ** len(config.channels)``.
    """

    def __init__(self, config: WarperConfig, representation_channels: int, height: int, width: int) -> None:
        super().__init__()
        levels = len(config.channels)
        if height % 2**levels or width % 2**levels:
            raise ValueError(f"warper size {height}x{width} must be divisible by {2**levels}")
        self.grid_size = config.grid_size
        self.person_features = FeatureExtractor(representation_channels, config.channels)
        self.garment_features = FeatureExtractor(4, config.channels)  # garment RGB + its mask
        correlation_channels = (height // 2**levels) * (width // 2**levels)
        mid = config.regressor_channels
        self.regressor = nn.Sequential(
            nn.Conv2d(correlation_channels, mid, 3, padding=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid // 2, 3, padding=1),
            nn.BatchNorm2d(mid // 2),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((4, 3)),  # fixed size whatever H, W: the linear layer stays valid
            nn.Flatten(),
        )
        self.to_offsets = nn.Linear(mid // 2 * 12, config.grid_size**2 * 2)
        # Tiny weights, zero bias: the untrained warp is within a pixel of the identity, yet gradients
        # still reach the feature extractors from the first step (all-zero weights would block them).
        nn.init.normal_(self.to_offsets.weight, std=1e-4)
        nn.init.zeros_(self.to_offsets.bias)
        self.warp = TPSWarp(config.grid_size)
        self.register_buffer("base_grid", control_grid(config.grid_size), persistent=False)

    def forward(self, representation: torch.Tensor, garment: torch.Tensor, garment_mask: torch.Tensor) -> torch.Tensor:
        """Predict source points.

        Args:
            representation: ``(B, R, H, W)`` cloth-agnostic person representation.
            garment: ``(B, 3, H, W)`` in [-1, 1]; garment_mask: ``(B, 1, H, W)`` in {0, 1}.

        Returns:
            ``(B, grid_size**2, 2)`` source points in normalised coordinates.
        """
        corr = correlation(
            self.person_features(representation),
            self.garment_features(torch.cat([garment, garment_mask * 2 - 1], dim=1)),
        )
        offsets = self.to_offsets(self.regressor(F.relu(corr)))
        # tanh bounds each control point's move to the image, so one bad step cannot fling it away.
        offsets = torch.tanh(offsets).view(-1, self.grid_size**2, 2)
        return self.base_grid.to(offsets) + offsets

    def warp_garment(
        self, points: torch.Tensor, garment: torch.Tensor, garment_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the warp at the garment's own resolution.

        Returns:
            warped garment ``(B, 3, H, W)`` (0 where sampled from outside the image; only meaningful
            under the mask) and warped mask ``(B, 1, H, W)`` in [0, 1].
        """
        warped = self.warp(torch.cat([garment, garment_mask], dim=1), points)
        return warped[:, :3], warped[:, 3:].clamp(0, 1)
