"""Training of the annotator networks (``tryon train parser|pose``), with the try-on trainer's conventions.

A run directory holds::

    RUN/config.json               the resolved config
    RUN/log.csv                   step, seconds, every loss term
    RUN/samples/step_000500.png   parser: photo | parse | prediction; pose: photo | target | heatmaps
    RUN/checkpoint/               latest checkpoint (see tryon.annotate.checkpoint), with optimiser state

Training resumes from RUN/checkpoint unless told not to; the first Ctrl-C saves a checkpoint and stops.
Both networks learn from the dataset's own labels: the parse maps and the pose files of the train split.
A share of the photos (``negative_p``) is swapped for the pair's garment shot, labelled all background
and all keypoints missing, so that a photo without a person is answered with no person.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from tryon.annotate.checkpoint import KINDS, build_network, load_annotator, model_card, save_annotator
from tryon.annotate.parser import colourise, parser_losses
from tryon.annotate.pose import heatmap_targets, pose_loss
from tryon.config import TryOnConfig
from tryon.loop import LoopTrainer, TrainState, load_training_data


class AnnotatorTrainer(LoopTrainer):
    """One annotator's training: owns the network and its optimiser; the loop is tryon.loop's."""

    def __init__(self, stage: str, config: TryOnConfig, out: Path, device: torch.device) -> None:
        if stage not in KINDS:
            raise ValueError(f"unknown stage {stage!r}: expected parser or pose")
        self.stage, self.config, self.out, self.device = stage, config, Path(out), device
        torch.manual_seed(config.optim.seed)
        self.network = build_network(stage, config).to(device)
        o = config.optim
        self.optimizers = {stage: torch.optim.Adam(self.network.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))}
        self.state = TrainState(stage)
        self.amp = o.amp and device.type == "cuda"
        self.negatives = torch.Generator().manual_seed(o.seed + 1)
        self.data_description = "unknown"

    # -- one step ---------------------------------------------------------------------------------

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimiser step on a batch at the working size; returns the losses and ``_visual`` for samples."""
        batch = self.with_negatives(batch)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            output = self.network(batch["person"]).float()
        if self.stage == "parser":
            losses = parser_losses(output, batch["parse"], self.config.parser.dice_weight)
            visual = colourise(output.argmax(1))
        else:
            targets = heatmap_targets(
                batch["keypoints"], tuple(output.shape[-2:]), self.network.stride, self.config.pose.sigma
            )
            losses = pose_loss(output, targets)
            visual = torch.cat([targets.amax(1, keepdim=True), output.amax(1, keepdim=True).clamp(0, 1)], -1)
        self.optimizer_step(self.stage, losses["total"])
        return {**losses, "_visual": visual.detach(), "_batch": batch}

    def with_negatives(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Swap a ``negative_p`` share of the photos for their garment shots: no person, no keypoints."""
        p = getattr(self.config, self.stage).negative_p
        swap = torch.rand(len(batch["person"]), generator=self.negatives) < p
        if p <= 0 or not swap.any():
            return batch
        swap = swap.to(batch["person"].device)
        out = dict(batch)
        out["person"] = torch.where(swap[:, None, None, None], batch["garment"], batch["person"])
        out["parse"] = torch.where(swap[:, None, None], 0, batch["parse"])
        out["keypoints"] = torch.where(swap[:, None, None], 0.0, batch["keypoints"])
        return out

    # -- the loop's hooks (tryon.loop) ------------------------------------------------------------

    def train_mode(self) -> None:
        self.network.train()

    def save_weights(self, path: Path) -> Path:
        training = {**asdict(self.state), "device": self.device.type, "data": self.data_description}
        return save_annotator(self.network, path, card=model_card(self.stage, self.config, training))

    def load_weights(self, path: Path) -> None:
        self.network.load_state_dict(load_annotator(path, self.stage, map_location=self.device).state_dict())

    def sample_columns(self, batch: dict, visual: torch.Tensor) -> list[torch.Tensor]:
        if self.stage == "parser":
            return [batch["person"], colourise(batch["parse"]), visual]
        return [batch["person"], visual]


def train_annotator(
    stage: str,
    data: Path,
    out: Path,
    config: TryOnConfig,
    device: str | None = None,
    pack: Path | None = None,
    resume: bool = True,
) -> Path:
    """Train the parser or the pose network on ROOT's train split into the run directory ``out``."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    trainer = AnnotatorTrainer(stage, config, Path(out), device)
    if resume:
        trainer.resume()
    dataset = load_training_data(Path(data), config, pack)
    trainer.data_description = f"{Path(data).name}/train ({len(dataset)} photos)"
    return trainer.fit(dataset)
