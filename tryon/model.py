"""TryOnModel: representation, warper and generator wired together at the model's working size."""

from __future__ import annotations

import torch
from torch import nn

from tryon.config import TryOnConfig
from tryon.networks.generator import UNetGenerator
from tryon.networks.warper import Warper
from tryon.representation import REPRESENTATION_CHANNELS, PersonRepresentation


class TryOnModel(nn.Module):
    """Both trainable networks of one checkpoint.

    Every input is at the working size ``config.data.height``×``config.data.width``; the pipeline does
    the resizing. Shapes: person ``(B, 3, H, W)``, parse ``(B, H, W)``, keypoints ``(B, 18, 3)``,
    garment ``(B, 3, H, W)``, garment_mask ``(B, 1, H, W)``.
    """

    def __init__(self, config: TryOnConfig) -> None:
        super().__init__()
        self.config = config
        h, w = config.data.height, config.data.width
        self.representation = PersonRepresentation(config.representation)
        self.warper = Warper(config.warper, REPRESENTATION_CHANNELS, h, w)
        self.generator = UNetGenerator(config.generator, REPRESENTATION_CHANNELS + 3 + 1)

    def warp(self, representation, garment, garment_mask) -> dict[str, torch.Tensor]:
        """TPS points plus the garment and its mask warped at the working size."""
        points = self.warper(representation, garment, garment_mask)
        warped_garment, warped_mask = self.warper.warp_garment(points, garment, garment_mask)
        return {"points": points, "warped_garment": warped_garment, "warped_mask": warped_mask}

    def forward(self, person, parse, keypoints, garment, garment_mask) -> dict[str, torch.Tensor]:
        """Full forward pass; returns the warp's outputs, the generator's outputs and the representation."""
        representation = self.representation(person, parse, keypoints)
        warp = self.warp(representation, garment, garment_mask)
        rendered = self.generator(representation, warp["warped_garment"], warp["warped_mask"])
        return {"representation": representation, **warp, **rendered}
