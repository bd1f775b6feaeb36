"""Human parser: photo -> LIP label map (20 labels), a small U-Net at the working size."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tryon.annotate.unet import AnnotatorNetwork
from tryon.config import TryOnConfig
from tryon.data.labels import NUM_LIP_LABELS

# LIP's usual display colours, label by label (for samples and for the palette of written parse PNGs).
LIP_PALETTE = (
    (0, 0, 0), (128, 0, 0), (255, 0, 0), (0, 85, 0), (170, 0, 51), (255, 85, 0), (0, 0, 85), (0, 119, 221),
    (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0), (0, 0, 255), (51, 170, 221),
    (0, 255, 255), (85, 255, 170), (170, 255, 85), (255, 255, 0), (255, 170, 0),
)  # fmt: skip


class HumanParser(AnnotatorNetwork):
    """Person photo ``(B, 3, H, W)`` in [-1, 1] -> ``(B, 20, H, W)`` LIP label logits, at the working size
    ``config.data`` (divisible by 2**(levels - 1))."""

    kind = "parser"

    def __init__(self, config: TryOnConfig) -> None:
        super().__init__(config, NUM_LIP_LABELS)


def parser_losses(logits: torch.Tensor, parse: torch.Tensor, dice_weight: float) -> dict[str, torch.Tensor]:
    """Cross-entropy plus ``dice_weight`` x soft Dice, and pixel accuracy for the log.

    Args:
        logits: ``(B, 20, H, W)``; parse: ``(B, H, W)`` int64 labels.
    """
    ce = F.cross_entropy(logits, parse)
    dice = soft_dice_loss(logits, parse)
    accuracy = (logits.argmax(1) == parse).float().mean()
    return {"total": ce + dice_weight * dice, "ce": ce, "dice": dice, "accuracy": accuracy.detach()}


def soft_dice_loss(logits: torch.Tensor, parse: torch.Tensor) -> torch.Tensor:
    """1 - mean soft Dice over the labels present in the batch's targets (absent ones would only reward
    predicting nothing)."""
    probabilities = logits.float().softmax(1)
    target = F.one_hot(parse, NUM_LIP_LABELS).permute(0, 3, 1, 2).float()
    intersection = (probabilities * target).sum((0, 2, 3))
    total = probabilities.sum((0, 2, 3)) + target.sum((0, 2, 3))
    present = target.sum((0, 2, 3)) > 0
    dice = (2 * intersection + 1) / (total + 1)
    return 1 - dice[present].mean()


def colourise(parse: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` labels -> ``(B, 3, H, W)`` in [-1, 1] in LIP's colours, for sample grids."""
    palette = torch.tensor(LIP_PALETTE, dtype=torch.float32, device=parse.device) / 127.5 - 1
    return palette[parse.long().clamp(0, NUM_LIP_LABELS - 1)].permute(0, 3, 1, 2)
