"""Tiny annotator configs and synthetic batches shared by the annotator tests."""

import torch

from tryon.config import TryOnConfig
from tryon.data.synthetic import synthetic_sample

KEYS = ("person", "parse", "keypoints", "garment", "garment_mask")
# Overrides of `tryon train` for a network that trains in seconds at 64x48.
TINY_OVERRIDES = [
    "data.height=64", "data.width=48", "parser.channels=8,16,16", "pose.channels=8,16,16,16",
    "optim.batch_size=2", "optim.log_every=1", "optim.sample_every=2",
]  # fmt: skip


def tiny_annotator_config(height: int = 64, width: int = 48) -> TryOnConfig:
    config = TryOnConfig()
    config.data.height, config.data.width = height, width
    config.parser.channels = (8, 16, 16)
    config.pose.channels = (8, 16, 16, 16)
    config.optim.batch_size = 2
    return config


def fixed_batch(n: int = 2, size=(64, 48)) -> dict[str, torch.Tensor]:
    samples = [synthetic_sample(size, seed=i) for i in range(n)]
    return {k: torch.stack([s[k] for s in samples]) for k in KEYS}
