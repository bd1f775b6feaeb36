"""The training loop every trainer shares: steps, CSV log, sample grids, checkpoints with optimiser state,
resume and Ctrl-C. Subclasses (tryon.train.Trainer, tryon.annotate.train.AnnotatorTrainer) own their
networks and say what one step, a sample row and the checkpoint's weights are.

A run directory holds::

    RUN/config.json               the resolved config
    RUN/log.csv                   step, seconds, every loss term
    RUN/samples/step_000500.png   a few rows of the latest batch
    RUN/checkpoint/               the latest checkpoint, with optimizers.safetensors and train_state.json
"""

from __future__ import annotations

import csv
import json
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader
from tqdm import tqdm

from tryon.config import TryOnConfig, save_config
from tryon.data.augment import Augmenter
from tryon.data.dataset import InMemoryDataset, TryOnDataset
from tryon.pipeline import resize_image, resize_labels, scale_keypoints
from tryon.visualize import save_grid


@dataclass
class TrainState:
    """What a resumed run needs beyond the weights."""

    stage: str
    step: int = 0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)  # last logged losses, for the model card


class LoopTrainer(ABC):
    """Base class: the loop and the run directory. Subclasses set ``stage``, ``config``, ``out``, ``device``,
    ``optimizers`` and ``state`` in their constructor and implement the five hooks below (a subclass that
    misses one cannot be built, rather than fail at its first checkpoint)."""

    stage: str
    config: TryOnConfig
    out: Path
    device: torch.device
    optimizers: dict[str, torch.optim.Optimizer]
    state: TrainState
    postfix_keys: tuple[str, ...] | None = None  # losses shown on the progress bar (None: all)

    # -- hooks ------------------------------------------------------------------------------------

    @abstractmethod
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimiser step; the losses, plus ``_visual`` (and optionally ``_batch``) for samples."""

    @abstractmethod
    def train_mode(self) -> None:
        """Put the networks in training mode (and frozen parts in eval mode)."""

    @abstractmethod
    def save_weights(self, path: Path) -> Path:
        """Write the checkpoint's weights, config and card into ``path``; return it."""

    @abstractmethod
    def load_weights(self, path: Path) -> None:
        """Load the weights written by :meth:`save_weights`."""

    @abstractmethod
    def sample_columns(self, batch: dict[str, torch.Tensor], visual: torch.Tensor) -> list[torch.Tensor]:
        """Columns of the sample grid, each ``(B, 3, H, W)`` in [-1, 1] (or 1 channel)."""

    # -- shared -----------------------------------------------------------------------------------

    def optimizer_step(self, name: str, loss: torch.Tensor) -> None:
        """Backward, clip the gradient norm (config.optim.grad_clip; 0 = off) and step optimiser ``name``."""
        optimizer = self.optimizers[name]
        for group in optimizer.param_groups:
            group["lr"] = self.learning_rate(group)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.optim.grad_clip > 0:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip)
        optimizer.step()

    def learning_rate(self, group: dict) -> float:
        """The group's configured rate (kept as ``initial_lr``), times lr_drop_factor from lr_drop_step on.

        Derived from the step alone, so a resumed run lands on the same schedule."""
        base = group.setdefault("initial_lr", group["lr"])
        o = self.config.optim
        dropped = 0 < o.lr_drop_step <= self.state.step
        return base * o.lr_drop_factor if dropped else base

    def save(self) -> Path:
        path = self.save_weights(self.out / "checkpoint")
        save_file(optimizer_tensors(self.optimizers), str(path / "optimizers.safetensors"))
        (path / "train_state.json").write_text(json.dumps(asdict(self.state), indent=2))
        return path

    def resume(self) -> bool:
        """Continue from RUN/checkpoint when it holds a run of this stage; False when there is none."""
        path = self.out / "checkpoint"
        if not (path / "train_state.json").exists():
            return False
        state = json.loads((path / "train_state.json").read_text())
        if state.get("stage") != self.stage:
            raise ValueError(f"{path} holds a {state.get('stage')} run, not {self.stage}: use another --out")
        self.load_weights(path)
        tensors = load_file(str(path / "optimizers.safetensors"), device=str(self.device))
        load_optimizer_tensors(self.optimizers, tensors)
        self.state = TrainState(**state)
        self._truncate_log()
        return True

    def _truncate_log(self) -> None:
        """Drop log rows past the checkpoint: after a crash or Ctrl-C those steps are trained again."""
        log = self.out / "log.csv"
        if not log.exists():
            return
        rows = list(csv.reader(log.read_text().splitlines()))
        kept = rows[:1] + [row for row in rows[1:] if int(row[0]) <= self.state.step]
        with open(log, "w", newline="") as file:
            csv.writer(file).writerows(kept)

    def fit(self, dataset, steps: int | None = None) -> Path:
        """Train until ``steps`` (default config.optim.steps); Ctrl-C saves before it returns."""
        steps = steps if steps is not None else self.config.optim.steps
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(self.config, self.out / "config.json")
        batches = infinite_batches(dataset, self.config, self.device)
        self.train_mode()
        interrupted = InterruptFlag()
        bar = tqdm(total=steps, initial=self.state.step, desc=f"train {self.stage}", unit="step")
        started = time.perf_counter() - self.state.seconds
        with interrupted, open(self.out / "log.csv", "a", newline="") as log:
            writer = None
            while self.state.step < steps and not interrupted.flag:
                batch = next(batches)
                losses = self.train_step(batch)
                self.state.step += 1
                self.state.seconds = time.perf_counter() - started
                scalars = {k: float(v.detach()) for k, v in losses.items() if not k.startswith("_")}
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in scalars.items() if self._on_bar(k)})
                writer = self._after_step(losses, batch, scalars, steps, log, writer)
        bar.close()
        return self.save()

    def _on_bar(self, name: str) -> bool:
        return self.postfix_keys is None or name in self.postfix_keys

    def _after_step(self, losses, batch, scalars, steps, log, writer):
        """Log, sample and checkpoint on their schedules; returns the (lazily created) CSV writer."""
        o, step = self.config.optim, self.state.step
        if step % o.log_every == 0 or step == steps:
            writer = writer or _csv_writer(log, scalars)
            writer.writerow({"step": step, "seconds": round(self.state.seconds, 1), **scalars})
            log.flush()
            self.state.history = [{"step": step, **scalars}]
        if step % o.sample_every == 0:
            self.save_samples(losses.get("_batch", batch), losses["_visual"])
        if step % o.checkpoint_every == 0:
            self.save()
        return writer

    def save_samples(self, batch: dict[str, torch.Tensor], visual: torch.Tensor) -> Path:
        n = min(4, visual.shape[0])
        columns = [column[:n].detach().float() for column in self.sample_columns(batch, visual)]
        path = self.out / "samples" / f"step_{self.state.step:06d}.png"
        return save_grid([list(row) for row in zip(*columns)], path)


class InterruptFlag:
    """Turns the first Ctrl-C into a flag so the loop can save a checkpoint; a second one kills."""

    def __init__(self) -> None:
        self.flag = False

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)


def _csv_writer(log, scalars: dict) -> csv.DictWriter:
    writer = csv.DictWriter(log, fieldnames=["step", "seconds", *scalars])
    if log.tell() == 0:
        writer.writeheader()
    return writer


def optimizer_tensors(optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
    """Flatten optimiser states into named tensors for safetensors (no pickle)."""
    tensors = {}
    for name, optimizer in optimizers.items():
        for index, state in optimizer.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"{name}.{index}.{key}"] = torch.as_tensor(value).detach().contiguous().cpu()
    return tensors


def load_optimizer_tensors(optimizers: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`optimizer_tensors`; hyper-parameters come from the config, not the file."""
    for name, optimizer in optimizers.items():
        state_dict = optimizer.state_dict()
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            owner, index, field_name = key.split(".", 2)
            if owner == name:
                state.setdefault(int(index), {})[field_name] = value
        state_dict["state"] = state
        optimizer.load_state_dict(state_dict)


def load_training_data(root: Path, config: TryOnConfig, pack: Path | None = None) -> InMemoryDataset:
    """The ``train`` split of ROOT in RAM, augmented on access; cached in ``pack`` when one is given."""
    augment = Augmenter(config.data) if config.data.augment else None
    if pack is not None and pack.with_suffix(".json").exists():
        return InMemoryDataset.load(pack, augment=augment)
    dataset = InMemoryDataset(
        TryOnDataset(root / "train", root / "train_pairs.txt", check=True), augment, progress=True
    )
    if pack is not None:
        dataset.save(pack)
    return dataset


def infinite_batches(dataset, config: TryOnConfig, device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    """Shuffled batches forever, resized to the working size and moved to ``device``."""
    generator = torch.Generator().manual_seed(config.optim.seed)
    loader = DataLoader(
        dataset,
        batch_size=min(config.optim.batch_size, len(dataset)),
        shuffle=True,
        drop_last=True,
        generator=generator,
        num_workers=config.data.num_workers,
    )
    size = (config.data.height, config.data.width)
    while True:
        for batch in loader:
            yield to_working_size(batch, size, device)


def to_working_size(batch: dict, size: tuple[int, int], device: torch.device) -> dict[str, torch.Tensor]:
    """Resize a batch from its data size to the model's working size (no-op when they agree)."""
    data_size = tuple(batch["person"].shape[-2:])
    return {
        "person": resize_image(batch["person"].to(device), size),
        "parse": resize_labels(batch["parse"].to(device), size),
        "keypoints": scale_keypoints(batch["keypoints"].to(device), data_size, size),
        "garment": resize_image(batch["garment"].to(device), size),
        "garment_mask": (resize_image(batch["garment_mask"].to(device), size) > 0.5).float(),
    }
