"""Small convolutional building blocks shared by the networks."""

from __future__ import annotations

from torch import nn


def down_block(in_channels: int, out_channels: int, norm: bool = True) -> nn.Sequential:
    """4×4 stride-2 convolution: halves H and W (pix2pix's encoder step)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.InstanceNorm2d(out_channels, affine=True))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def up_block(in_channels: int, out_channels: int, dropout: float = 0.0) -> nn.Sequential:
    """Bilinear ×2 upsampling then a 3×3 convolution: no checkerboard artefacts of transposed convs."""
    layers: list[nn.Module] = [
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.ReLU(inplace=True),
    ]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def conv_norm_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3×3 convolution, instance norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.ReLU(inplace=True),
    )
