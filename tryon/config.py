"""Typed configuration: defaults, then a JSON file, then ``key=value`` overrides.

Every checkpoint directory holds the resolved config as ``config.json`` beside its weights, so a run can
always be reproduced and a checkpoint loaded without guessing its architecture.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DataConfig:
    height: int = 256
    width: int = 192
    augment: bool = True
    flip_p: float = 0.5
    scale_jitter: float = 0.05  # relative: 0.05 scales by [0.95, 1.05]
    shift_jitter: float = 0.03  # fraction of the image size
    color_jitter: float = 0.1  # brightness/contrast/saturation amplitude
    num_workers: int = 0


@dataclass
class RepresentationConfig:
    shape_downsample: int = 16  # body-shape mask is pooled by this factor, then blurred back up
    heatmap_sigma: float = 4.0  # pose heatmap radius, in pixels at 256x192


@dataclass
class WarperConfig:
    grid_size: int = 5  # TPS control points per side
    channels: tuple[int, ...] = (32, 64, 128, 256)  # feature extractor widths; each level halves H, W
    regressor_channels: int = 128
    smoothness_weight: float = 0.04
    mask_weight: float = 1.0


@dataclass
class GeneratorConfig:
    depth: int = 5  # U-Net levels: H and W must be divisible by 2**depth
    base_channels: int = 32
    max_channels: int = 256
    disc_scales: int = 2
    disc_layers: int = 3
    disc_channels: int = 32
    gan_mode: str = "lsgan"  # lsgan | hinge
    weight_l1: float = 10.0
    weight_feature_matching: float = 10.0
    weight_perceptual: float = 1.0  # EfficientNet features are ~5x the L1 scale: 1.0 keeps L1 in charge
    weight_gan: float = 1.0
    weight_composition: float = 1.0  # pulls the composition mask toward the warped garment's region


@dataclass
class OptimConfig:
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 8
    steps: int = 20000
    lr_drop_step: int = 0  # from this step on the learning rate is lr * lr_drop_factor (0 = never)
    lr_drop_factor: float = 0.2
    seed: int = 0
    grad_clip: float = 1.0  # max gradient norm per step (0 = off): one odd batch must not fling the TPS grid
    amp: bool = True  # mixed precision, used on CUDA only
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000


@dataclass
class ParserConfig:
    """Human parser (tryon.annotate): a small U-Net over LIP's 20 labels at the working size (config.data)."""

    channels: tuple[int, ...] = (16, 32, 64, 96, 128)  # widths per level; H, W divisible by 2**(levels - 1)
    dice_weight: float = 0.5  # soft Dice beside cross-entropy, so that small parts (arms, face) count
    negative_p: float = 0.05  # share of training photos swapped for a person-free one (the garment shot)
    min_person_fraction: float = 0.01  # fewer person pixels than this share of the photo: no person


@dataclass
class PoseConfig:
    """Pose estimator (tryon.annotate): COCO-18 heatmaps at 1/heatmap_stride of the working size."""

    channels: tuple[int, ...] = (16, 32, 64, 96, 128)
    heatmap_stride: int = 4  # a power of two below 2**(levels - 1)
    sigma: float = 1.5  # Gaussian target radius, in heatmap pixels
    confidence_threshold: float = 0.2  # heatmap peaks below this are reported missing (0, 0, 0)
    min_keypoints: int = 4  # fewer confident keypoints than this: no person
    negative_p: float = 0.05


@dataclass
class TryOnConfig:
    data: DataConfig = field(default_factory=DataConfig)
    representation: RepresentationConfig = field(default_factory=RepresentationConfig)
    warper: WarperConfig = field(default_factory=WarperConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    parser: ParserConfig = field(default_factory=ParserConfig)  # annotator checkpoints only
    pose: PoseConfig = field(default_factory=PoseConfig)  # annotator checkpoints only


def to_dict(config: Any) -> dict[str, Any]:
    """Plain JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Build dataclass ``cls`` from a (possibly partial) dict; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown config key(s) for {cls.__name__}: {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = from_dict(hint, value)
        else:
            kwargs[name] = _coerce(hint, value, name)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple(_coerce(typing.get_args(hint)[0], v, name) for v in value)
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"config key {name}: expected a boolean, got {value!r}")
        return value.lower() in ("true", "1", "yes")
    try:
        return hint(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"config key {name}: cannot read {value!r} as {hint.__name__}") from error


def apply_overrides(config: TryOnConfig, overrides: list[str]) -> TryOnConfig:
    """Apply ``section.key=value`` overrides, e.g. ``optim.lr=1e-4`` or ``warper.channels=16,32,64``."""
    values = to_dict(config)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form section.key=value")
        dotted, raw = item.split("=", 1)
        parts = dotted.split(".")
        node = values
        for part in parts[:-1]:
            if part not in node or not isinstance(node[part], dict):
                raise ValueError(f"unknown config section in override {item!r}")
            node = node[part]
        if parts[-1] not in node:
            raise ValueError(f"unknown config key in override {item!r}")
        node[parts[-1]] = raw.split(",") if isinstance(node[parts[-1]], list) else raw
    return from_dict(TryOnConfig, values)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TryOnConfig:
    """Defaults, then the JSON file at ``path`` (partial is fine), then the overrides."""
    config = TryOnConfig()
    if path is not None:
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read config {path}: {error}") from error
        merged = _deep_merge(to_dict(config), values)
        config = from_dict(TryOnConfig, merged)
    return apply_overrides(config, overrides or [])


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _deep_merge(base[key], value)
        else:
            out[key] = value
    return out


def save_config(config: TryOnConfig, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(config), indent=2) + "\n")
