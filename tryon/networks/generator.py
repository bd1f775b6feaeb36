"""pix2pix U-Net try-on generator with a composition mask (CP-VTON's TOM)."""

from __future__ import annotations

import torch
from torch import nn

from tryon.config import GeneratorConfig
from tryon.networks.blocks import down_block, up_block


class UNetGenerator(nn.Module):
    """Representation + warped garment + warped mask -> rendered person and composition mask.

    Args:
        config: depth and widths. H and W must be divisible by ``2 ** config.depth``.
        in_channels: channels of the concatenated input.
    """

    def __init__(self, config: GeneratorConfig, in_channels: int) -> None:
        super().__init__()
        self.depth = config.depth
        widths = [min(config.base_channels * 2**i, config.max_channels) for i in range(config.depth)]
        self.encoder = nn.ModuleList(
            down_block(in_channels if i == 0 else widths[i - 1], widths[i], norm=i > 0) for i in range(config.depth)
        )
        # Decoder level i upsamples to the resolution of encoder level i - 1 and joins its skip.
        self.decoder = nn.ModuleList()
        for i in reversed(range(1, config.depth)):
            incoming = widths[i] if i == config.depth - 1 else widths[i] * 2
            self.decoder.append(up_block(incoming, widths[i - 1]))
        self.head = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(widths[0] * 2, widths[0], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(widths[0], 4, 3, padding=1),  # 3 rendered RGB + 1 composition logit
        )

    def forward(
        self, representation: torch.Tensor, warped_garment: torch.Tensor, warped_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Render.

        Args:
            representation: ``(B, R, H, W)``; warped_garment: ``(B, 3, H, W)`` in [-1, 1];
            warped_mask: ``(B, 1, H, W)`` in [0, 1].

        Returns:
            dict with ``rendered`` ``(B, 3, H, W)`` in [-1, 1], ``composition`` ``(B, 1, H, W)`` in [0, 1]
            and ``output`` = composition · warped_garment + (1 − composition) · rendered.
        """
        h, w = representation.shape[-2:]
        if h % 2**self.depth or w % 2**self.depth:
            raise ValueError(f"generator input {h}x{w} must be divisible by {2**self.depth}")
        x = torch.cat([representation, warped_garment * warped_mask, warped_mask], dim=1)
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        for i, layer in enumerate(self.decoder):
            x = layer(x if i == 0 else torch.cat([x, skips[-1 - i]], dim=1))
        out = self.head(torch.cat([x, skips[0]], dim=1))
        rendered = torch.tanh(out[:, :3])
        composition = torch.sigmoid(out[:, 3:]) * warped_mask  # the garment can only show where it was warped
        output = composition * warped_garment + (1 - composition) * rendered
        return {"rendered": rendered, "composition": composition, "output": output}
