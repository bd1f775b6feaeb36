"""Checkpoints: a directory of safetensors weights, the resolved config as JSON, and a model card.

Loading never unpickles. Layout::

    CKPT/config.json          resolved TryOnConfig
    CKPT/warper.safetensors   TryOnModel.warper state dict
    CKPT/generator.safetensors
    CKPT/MODEL_CARD.md
    CKPT/train_state.json     (training runs only) step, per-part progress
    CKPT/optimizers.safetensors + CKPT/discriminator.safetensors (training runs only, for resume)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tryon.config import TryOnConfig, from_dict, save_config, to_dict
from tryon.model import TryOnModel

PARTS = ("warper", "generator")


class CheckpointError(ValueError):
    """A checkpoint directory is missing, incomplete or does not match its config."""


def save_state_dict(module: torch.nn.Module, path: Path) -> None:
    # safetensors refuses shared storage; contiguous clones make every tensor its own.
    save_file({k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}, str(path))


def save_checkpoint(model: TryOnModel, path: str | Path, card: str | None = None) -> Path:
    """Write ``model`` and its config to the directory ``path`` (created if needed)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_config(model.config, path / "config.json")
    save_state_dict(model.warper, path / "warper.safetensors")
    save_state_dict(model.generator, path / "generator.safetensors")
    if card is not None:
        (path / "MODEL_CARD.md").write_text(card)
    return path


def read_config(path: str | Path) -> TryOnConfig:
    path = Path(path)
    config_file = path / "config.json"
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint directory not found")
    try:
        return from_dict(TryOnConfig, json.loads(config_file.read_text()))
    except FileNotFoundError as error:
        raise CheckpointError(f"{config_file}: missing file") from error
    except (json.JSONDecodeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{config_file}: invalid config ({error})") from error


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", parts=PARTS) -> TryOnModel:
    """Build a TryOnModel from its config and load the weights of ``parts`` (the others stay initialised)."""
    path = Path(path)
    model = TryOnModel(read_config(path))
    for part in parts:
        file = path / f"{part}.safetensors"
        if not file.exists():
            raise CheckpointError(f"{file}: missing file")
        try:
            state = load_file(str(file), device=str(map_location))
            getattr(model, part).load_state_dict(state)
        except (RuntimeError, OSError) as error:
            raise CheckpointError(f"{file}: weights do not match config.json ({error})") from error
    return model.to(map_location)


def tiny_config(height: int = 64, width: int = 48) -> TryOnConfig:
    """The smallest sensible architecture, for tests: a few hundred kB of weights."""
    config = TryOnConfig()
    config.data.height, config.data.width = height, width
    config.warper.channels = (8, 16, 16, 16)
    config.warper.regressor_channels = 16
    config.generator.depth = 4
    config.generator.base_channels = 8
    config.generator.max_channels = 32
    config.generator.disc_channels = 8
    return config


def create_random_checkpoint(path: str | Path, height: int = 64, width: int = 48, seed: int = 0) -> Path:
    """A randomly initialised tiny checkpoint, for tests of everything that loads one."""
    torch.manual_seed(seed)
    model = TryOnModel(tiny_config(height, width))
    card = "# Random test checkpoint\n\nRandomly initialised; renders noise. For tests only.\n"
    return save_checkpoint(model, path, card=card)


def config_summary(config: TryOnConfig) -> dict:
    """The config as a plain dict (for model cards and reports)."""
    return to_dict(config)
