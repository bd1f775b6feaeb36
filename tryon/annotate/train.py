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

import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from tryon.annotate.checkpoint import KINDS, build_network, load_annotator, model_card, save_annotator
from tryon.annotate.parser import colourise, parser_losses
from tryon.annotate.pose import heatmap_targets, pose_loss
from tryon.config import TryOnConfig, save_config
from tryon.train import (
    TrainState,
    _csv_writer,
    _InterruptFlag,
    infinite_batches,
    load_optimizer_tensors,
    load_training_data,
    optimizer_tensors,
)
from tryon.visualize import save_grid


class AnnotatorTrainer:
    """One annotator's training: owns the network, its optimiser, the run directory and the loop."""

    def __init__(self, stage: str, config: TryOnConfig, out: Path, device: torch.device) -> None:
        if stage not in KINDS:
            raise ValueError(f"unknown stage {stage!r}: expected parser or pose")
        self.stage, self.config, self.out, self.device = stage, config, Path(out), device
        torch.manual_seed(config.optim.seed)
        self.network = build_network(stage, config).to(device)
        o = config.optim
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=o.lr, betas=(o.beta1, o.beta2))
        self.state = TrainState(stage)
        self.amp = o.amp and device.type == "cuda"
        self.negatives = torch.Generator().manual_seed(o.seed + 1)
        self.data_description = "unknown"

    # -- one step ---------------------------------------------------------------------------------

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
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
        self._step(losses["total"])
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

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()

    # -- checkpoints ------------------------------------------------------------------------------

    def save(self) -> Path:
        state = {"stage": self.stage, "step": self.state.step, "seconds": self.state.seconds}
        state["history"] = self.state.history
        card = model_card(self.stage, self.config, {**state, "device": self.device.type, "data": self.data_description})
        path = save_annotator(self.network, self.out / "checkpoint", card=card)
        save_file(optimizer_tensors({self.stage: self.optimizer}), str(path / "optimizers.safetensors"))
        (path / "train_state.json").write_text(json.dumps(state, indent=2))
        return path

    def resume(self) -> bool:
        """Continue from RUN/checkpoint when it holds a run of this stage; False when there is none."""
        path = self.out / "checkpoint"
        if not (path / "train_state.json").exists():
            return False
        state = json.loads((path / "train_state.json").read_text())
        if state.get("stage") != self.stage:
            raise ValueError(f"{path} holds a {state.get('stage')} run, not {self.stage}: use another --out")
        self.network.load_state_dict(load_annotator(path, self.stage, map_location=self.device).state_dict())
        tensors = load_file(str(path / "optimizers.safetensors"), device=str(self.device))
        load_optimizer_tensors({self.stage: self.optimizer}, tensors)
        self.state = TrainState(**state)
        self._truncate_log()
        return True

    def _truncate_log(self) -> None:
        """Drop log rows past the checkpoint: after a crash or Ctrl-C those steps are trained again."""
        log = self.out / "log.csv"
        if not log.exists():
            return
        lines = log.read_text().splitlines()
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= self.state.step]
        log.write_text("".join(line + "\n" for line in kept))

    # -- the loop ---------------------------------------------------------------------------------

    def fit(self, dataset, steps: int | None = None) -> Path:
        """Train until ``steps`` (default config.optim.steps); Ctrl-C saves before it returns."""
        o = self.config.optim
        steps = steps if steps is not None else o.steps
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(self.config, self.out / "config.json")
        batches = infinite_batches(dataset, self.config, self.device)
        self.network.train()
        interrupted = _InterruptFlag()
        bar = tqdm(total=steps, initial=self.state.step, desc=f"train {self.stage}", unit="step")
        started = time.perf_counter() - self.state.seconds
        with interrupted, open(self.out / "log.csv", "a", newline="") as log:
            writer = None
            while self.state.step < steps and not interrupted.flag:
                losses = self.step(next(batches))
                self.state.step += 1
                self.state.seconds = time.perf_counter() - started
                scalars = {k: float(v.detach()) for k, v in losses.items() if not k.startswith("_")}
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in scalars.items()})
                if self.state.step % o.log_every == 0 or self.state.step == steps:
                    writer = writer or _csv_writer(log, scalars)
                    writer.writerow({"step": self.state.step, "seconds": round(self.state.seconds, 1), **scalars})
                    log.flush()
                    self.state.history = [{"step": self.state.step, **scalars}]
                if self.state.step % o.sample_every == 0:
                    self.save_samples(losses["_batch"], losses["_visual"])
                if self.state.step % o.checkpoint_every == 0:
                    self.save()
        bar.close()
        return self.save()

    def save_samples(self, batch: dict, visual: torch.Tensor) -> Path:
        n = min(4, visual.shape[0])
        if self.stage == "parser":
            columns = [batch["person"][:n], colourise(batch["parse"][:n]), visual[:n]]
        else:
            columns = [batch["person"][:n], visual[:n]]
        path = self.out / "samples" / f"step_{self.state.step:06d}.png"
        return save_grid([list(row) for row in zip(*columns)], path)


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
