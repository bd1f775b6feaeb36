"""Annotator checkpoints: a directory like the try-on model's, one network each.

Layout::

    CKPT/config.json          resolved TryOnConfig (data: the working size; parser or pose: the network)
    CKPT/parser.safetensors   or pose.safetensors
    CKPT/MODEL_CARD.md
    CKPT/train_state.json + CKPT/optimizers.safetensors   (training runs only, for resume)

Loading never unpickles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from tryon.annotate.parser import HumanParser
from tryon.annotate.pose import PoseEstimator
from tryon.checkpoint import CheckpointError, read_config, save_state_dict
from tryon.config import TryOnConfig, save_config, to_dict

KINDS = ("parser", "pose")
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_CHECKPOINTS = {"parser": WEIGHTS_DIR / "parser", "pose": WEIGHTS_DIR / "pose"}


def build_network(kind: str, config: TryOnConfig) -> HumanParser | PoseEstimator:
    if kind == "parser":
        return HumanParser(config)
    if kind == "pose":
        return PoseEstimator(config)
    raise ValueError(f"unknown annotator {kind!r}: expected parser or pose")


def save_annotator(network: HumanParser | PoseEstimator, path: str | Path, card: str | None = None) -> Path:
    """Write ``network`` and its config to the directory ``path`` (created if needed)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_config(network.config, path / "config.json")
    save_state_dict(network, path / f"{network.kind}.safetensors")
    if card is not None:
        (path / "MODEL_CARD.md").write_text(card)
    return path


def load_annotator(path: str | Path | None, kind: str, map_location: str | torch.device = "cpu"):
    """Build the ``kind`` network from the checkpoint at ``path`` (default: the one shipped with the package)."""
    if kind not in KINDS:
        raise ValueError(f"unknown annotator {kind!r}: expected parser or pose")
    path = Path(path) if path is not None else DEFAULT_CHECKPOINTS[kind]
    if not path.is_dir():
        raise CheckpointError(f"{path}: {kind} checkpoint directory not found (train one: tryon train {kind})")
    weights = path / f"{kind}.safetensors"
    if not weights.exists():
        raise CheckpointError(f"{weights}: missing file (is {path} a {kind} checkpoint?)")
    network = build_network(kind, read_config(path))
    try:
        network.load_state_dict(load_file(str(weights), device=str(map_location)))
    except (RuntimeError, OSError) as error:
        raise CheckpointError(f"{weights}: weights do not match config.json ({error})") from error
    return network.to(map_location).eval()


def model_card(kind: str, config: TryOnConfig, training: dict[str, Any] | None = None) -> str:
    """The MODEL_CARD.md of an annotator checkpoint: what it is, how it was trained, what it may be used for."""
    what = {
        "parser": "Human parser: a small U-Net that labels every pixel of a person photo with one of LIP's 20 "
        "labels. Output: the label map at the photo's resolution.",
        "pose": "Pose estimator: a small U-Net that predicts one heatmap per COCO-18 keypoint at 1/"
        f"{config.pose.heatmap_stride} of its working size. Output: (x, y, confidence) per keypoint in the "
        "photo's pixels; (0, 0, 0) for a keypoint it does not find.",
    }[kind]
    parameters = sum(p.numel() for p in build_network(kind, config).parameters())
    lines = [
        f"# tryon {kind} annotator",
        "",
        what,
        "",
        f"- Working size: {config.data.height}x{config.data.width} (photos are letterboxed into it).",
        f"- Parameters: {parameters:,} (float32).",
        "- Loading: `tryon.annotate.annotator.Annotator.from_checkpoints(...)`; weights are safetensors, "
        "config.json holds the resolved config.",
    ]
    if training:
        lines += [
            "",
            "## Training",
            "",
            f"- Data: {training.get('data', 'unknown')}",
            f"- Steps: {training.get('step')} ({training.get('seconds', 0) / 60:.1f} min on {training.get('device')})",
            f"- Last logged losses: {json.dumps(training.get('history', []))}",
        ]
    lines += [
        "",
        "## Intended use and limits",
        "",
        "Research/demo weights when trained on the VITON dataset (Zalando product photos released for research "
        "only): not for production use. Retailers retrain on their own photos with `tryon train "
        f"{kind} --data ROOT --out RUN`. Expect good results only on photos like the training set: one "
        "person, standing, facing the camera, on a plain background.",
        "",
        "## Validation figures",
        "",
        "See `tryon eval-annotators` (metrics.json): parse mIoU and per-part IoU, pose PCKh@0.5.",
        "",
        "## Config",
        "",
        "```json",
        json.dumps({"data": to_dict(config.data), kind: to_dict(getattr(config, kind))}, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)
