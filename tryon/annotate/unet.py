"""The small encoder-decoder both annotator networks share, and their common wrapper."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tryon.config import TryOnConfig


def conv_block(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution, group norm, ReLU. Group norm behaves the same in training and inference at any
    batch size, so a network trained on a few photos a batch is not surprised by a single photo."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.GroupNorm(_groups(out_channels), out_channels),
        nn.ReLU(inplace=True),
    )


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class EncoderDecoder(nn.Module):
    """U-Net: ``len(channels)`` levels, each halving H and W after the first, with a dilated context block
    at the bottom (the pose network must see the whole figure), decoding back up to ``1/output_stride``.

    Args:
        in_channels: input channels (3 for RGB).
        channels: widths per level.
        out_channels: output maps.
        output_stride: 1 for full resolution, or a power of two below ``2 ** (levels - 1)``.
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], out_channels: int, output_stride: int = 1):
        super().__init__()
        levels = len(channels)
        if levels < 2:
            raise ValueError(f"need at least 2 levels, got channels={channels}")
        if output_stride < 1 or output_stride & (output_stride - 1) or output_stride >= 2 ** (levels - 1):
            raise ValueError(f"output stride {output_stride} must be a power of two below {2 ** (levels - 1)}")
        self.divisor = 2 ** (levels - 1)
        self.output_level = output_stride.bit_length() - 1
        self.encoder = nn.ModuleList(
            nn.Sequential(
                conv_block(in_channels if i == 0 else channels[i - 1], channels[i], stride=1 if i == 0 else 2),
                conv_block(channels[i], channels[i]),
            )
            for i in range(levels)
        )
        self.context = nn.Sequential(
            conv_block(channels[-1], channels[-1], dilation=2), conv_block(channels[-1], channels[-1], dilation=4)
        )
        # Decoder step i joins level i's skip to the upsampled level i + 1.
        self.decoder = nn.ModuleList(
            conv_block(channels[i + 1] + channels[i], channels[i])
            for i in reversed(range(self.output_level, levels - 1))
        )
        self.head = nn.Conv2d(channels[self.output_level], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, out_channels, H / output_stride, W / output_stride)``."""
        h, w = x.shape[-2:]
        if h % self.divisor or w % self.divisor:
            raise ValueError(f"input {h}x{w} must be divisible by {self.divisor}")
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        x = x + self.context(x)
        for layer, skip in zip(self.decoder, reversed(skips[self.output_level : -1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = layer(torch.cat([x, skip], 1))
        return self.head(x)


class AnnotatorNetwork(nn.Module):
    """An encoder-decoder with the config it was built from; inputs at the working size ``config.data``.

    Subclasses name their ``kind`` ("parser" or "pose"): the name of their weights file and config section.
    """

    kind = ""

    def __init__(self, config: TryOnConfig, out_channels: int, output_stride: int = 1) -> None:
        super().__init__()
        self.config = config
        self.stride = output_stride
        self.net = EncoderDecoder(3, getattr(config, self.kind).channels, out_channels, output_stride)

    @property
    def work_size(self) -> tuple[int, int]:
        return self.config.data.height, self.config.data.width

    def forward(self, person: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [-1, 1] -> ``(B, out_channels, H / stride, W / stride)``."""
        return self.net(person)
