"""Multi-scale PatchGAN discriminator (pix2pixHD) that returns its intermediate features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tryon.networks.blocks import down_block


class PatchDiscriminator(nn.Module):
    """``n_layers`` strided convs and a 1-channel patch map; every layer's output is kept for feature matching."""

    def __init__(self, in_channels: int, channels: int, n_layers: int) -> None:
        super().__init__()
        widths = [in_channels] + [min(channels * 2**i, 256) for i in range(n_layers)]
        self.layers = nn.ModuleList(down_block(a, b, norm=i > 0) for i, (a, b) in enumerate(zip(widths, widths[1:])))
        self.layers.append(nn.Conv2d(widths[-1], 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features  # features[-1] is the (B, 1, h, w) patch score


class MultiScaleDiscriminator(nn.Module):
    """``scales`` PatchGANs on the input downsampled by 1, 2, 4, ...

    ``forward(x (B, C, H, W))`` -> one feature list per scale, finest first.
    """

    def __init__(self, in_channels: int, channels: int = 32, n_layers: int = 3, scales: int = 2) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, channels, n_layers) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, discriminator in enumerate(self.scales):
            if i > 0:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(discriminator(x))
        return outputs
