"""Training loops for the warper and the generator, with checkpoints, samples, logs and resume.

A run directory holds::

    RUN/config.json               the resolved config
    RUN/log.csv                   step, seconds, every loss term
    RUN/samples/step_000500.png   person | garment | warped garment | result | target
    RUN/checkpoint/               latest checkpoint (see tryon.checkpoint), with optimiser state
"""

from __future__ import annotations

import csv
import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader
from tqdm import tqdm

from tryon.checkpoint import load_checkpoint, save_checkpoint, save_state_dict
from tryon.config import TryOnConfig, save_config
from tryon.data.augment import Augmenter
from tryon.data.dataset import InMemoryDataset, TryOnDataset
from tryon.losses import adversarial_loss, composition_loss, feature_matching_loss, warper_losses
from tryon.model import TryOnModel
from tryon.networks.discriminator import MultiScaleDiscriminator
from tryon.pipeline import resize_image, resize_labels, scale_keypoints
from tryon.representation import REPRESENTATION_CHANNELS, tryon_region, worn_garment_mask
from tryon.visualize import save_grid

STAGES = ("warper", "generator")


@dataclass
class TrainState:
    """What a resumed run needs beyond the weights."""

    stage: str
    step: int = 0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)  # last logged losses, for the model card


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


class Trainer:
    """One stage's training: owns the model, optimisers, run directory and the loop."""

    def __init__(self, stage: str, config: TryOnConfig, out: Path, device: torch.device, warper: Path | None = None):
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}: expected warper or generator")
        if stage == "generator" and warper is None and not (out / "checkpoint" / "train_state.json").exists():
            raise ValueError("training the generator needs a trained warper: pass --warper CHECKPOINT")
        self.stage, self.config, self.out, self.device = stage, config, out, device
        torch.manual_seed(config.optim.seed)
        self.model = TryOnModel(config).to(device)
        if warper is not None:
            self.model.warper.load_state_dict(load_checkpoint(warper, parts=("warper",)).warper.state_dict())
        self.discriminator = None
        if stage == "generator":
            g = config.generator
            d_in = REPRESENTATION_CHANNELS + 3
            self.discriminator = MultiScaleDiscriminator(d_in, g.disc_channels, g.disc_layers, g.disc_scales).to(device)
            self.model.warper.requires_grad_(False)
        self.optimizers = self._make_optimizers()
        self.perceptual = None
        self.state = TrainState(stage)
        self.amp = config.optim.amp and device.type == "cuda"

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.config.optim

        def adam(params):
            return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2))

        if self.stage == "warper":
            return {"warper": adam(self.model.warper.parameters())}
        return {
            "generator": adam(self.model.generator.parameters()),
            "discriminator": adam(self.discriminator.parameters()),
        }

    # -- one step of each stage -------------------------------------------------------------------

    def warper_step(self, batch: dict) -> dict[str, torch.Tensor]:
        model, w = self.model, self.config.warper
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            representation = model.representation(batch["person"], batch["parse"], batch["keypoints"])
            out = model.warp(representation, batch["garment"], batch["garment_mask"])
        target_mask = worn_garment_mask(batch["parse"])
        losses = warper_losses(
            out["warped_garment"].float(), out["warped_mask"].float(), batch["person"] * target_mask, target_mask,
            out["points"].float(), w.grid_size, w.mask_weight, w.smoothness_weight,
        )  # fmt: skip
        self._step("warper", losses["total"])
        overlay = out["warped_mask"] * out["warped_garment"] + (1 - out["warped_mask"]) * batch["person"]
        return {**losses, "_visual": overlay.detach()}

    def generator_step(self, batch: dict) -> dict[str, torch.Tensor]:
        g = self.config.generator
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.model(
                batch["person"], batch["parse"], batch["keypoints"], batch["garment"], batch["garment_mask"]
            )
            region = tryon_region(
                batch["parse"], out["warped_mask"].float(), feather=max(1, round(3 * batch["parse"].shape[-2] / 256))
            )
            result = region * out["output"] + (1 - region) * batch["person"]
            condition = out["representation"]
            fake_scores = self.discriminator(torch.cat([condition, result], 1))
            real_scores = self.discriminator(torch.cat([condition, batch["person"]], 1))
        losses = {
            "l1": F.l1_loss(result.float(), batch["person"]),
            "perceptual": self._perceptual(result.float(), batch["person"]),
            "gan": adversarial_loss(fake_scores, True, g.gan_mode, for_discriminator=False),
            "feature_matching": feature_matching_loss(fake_scores, real_scores),
            "composition": composition_loss(
                out["composition"].float(), out["warped_mask"].float(), worn_garment_mask(batch["parse"])
            ),
        }
        losses["total"] = (
            g.weight_l1 * losses["l1"] + g.weight_perceptual * losses["perceptual"] + g.weight_gan * losses["gan"]
            + g.weight_feature_matching * losses["feature_matching"] + g.weight_composition * losses["composition"]
        )  # fmt: skip
        self._step("generator", losses["total"])
        losses.update(self.discriminator_step(condition.detach(), result.detach(), batch["person"]))
        return {**losses, "_visual": result}

    def discriminator_step(self, condition, fake, real) -> dict[str, torch.Tensor]:
        mode = self.config.generator.gan_mode
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            fake_loss = adversarial_loss(self.discriminator(torch.cat([condition, fake], 1)), False, mode, True)
            real_loss = adversarial_loss(self.discriminator(torch.cat([condition, real], 1)), True, mode, True)
        total = 0.5 * (fake_loss + real_loss)
        self._step("discriminator", total)
        return {"d_fake": fake_loss, "d_real": real_loss}

    def _perceptual(self, fake, real) -> torch.Tensor:
        if self.config.generator.weight_perceptual <= 0:
            return torch.zeros((), device=fake.device)
        if self.perceptual is None:
            from tryon.networks.perceptual import PerceptualLoss

            self.perceptual = PerceptualLoss().to(self.device)
        return self.perceptual(fake, real)

    def _step(self, name: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.optim.grad_clip > 0:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip)
        optimizer.step()

    # -- checkpoints ------------------------------------------------------------------------------

    def save(self) -> Path:
        path = save_checkpoint(self.model, self.out / "checkpoint")
        if self.discriminator is not None:
            save_state_dict(self.discriminator, path / "discriminator.safetensors")
        save_file(optimizer_tensors(self.optimizers), str(path / "optimizers.safetensors"))
        state = {
            "stage": self.state.stage,
            "step": self.state.step,
            "seconds": self.state.seconds,
            "history": self.state.history,
        }
        (path / "train_state.json").write_text(json.dumps(state, indent=2))
        return path

    def resume(self) -> bool:
        path = self.out / "checkpoint"
        if not (path / "train_state.json").exists():
            return False
        state = json.loads((path / "train_state.json").read_text())
        if state["stage"] != self.stage:
            raise ValueError(f"{path} holds a {state['stage']} run, not {self.stage}: use another --out")
        loaded = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(loaded.state_dict())
        if self.discriminator is not None:
            self.discriminator.load_state_dict(
                load_file(str(path / "discriminator.safetensors"), device=str(self.device))
            )
        load_optimizer_tensors(
            self.optimizers, load_file(str(path / "optimizers.safetensors"), device=str(self.device))
        )
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

    # -- the loop ---------------------------------------------------------------------------------

    def fit(self, dataset, steps: int | None = None) -> Path:
        """Train until ``steps`` (default config.optim.steps); Ctrl-C saves before it returns."""
        o = self.config.optim
        steps = steps if steps is not None else o.steps
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(self.config, self.out / "config.json")
        batches = infinite_batches(dataset, self.config, self.device)
        step_fn = self.warper_step if self.stage == "warper" else self.generator_step
        self.model.train()
        if self.stage == "generator":
            self.model.warper.eval()  # frozen: its batch norm statistics must not drift
        interrupted = _InterruptFlag()
        bar = tqdm(total=steps, initial=self.state.step, desc=f"train {self.stage}", unit="step")
        started = time.perf_counter() - self.state.seconds
        with interrupted, open(self.out / "log.csv", "a", newline="") as log:
            writer = None
            while self.state.step < steps and not interrupted.flag:
                batch = next(batches)
                losses = step_fn(batch)
                self.state.step += 1
                self.state.seconds = time.perf_counter() - started
                scalars = {k: float(v.detach()) for k, v in losses.items() if not k.startswith("_")}
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in scalars.items() if k in ("total", "l1", "gan", "mask")})
                if self.state.step % o.log_every == 0 or self.state.step == steps:
                    writer = writer or _csv_writer(log, scalars)
                    writer.writerow({"step": self.state.step, "seconds": round(self.state.seconds, 1), **scalars})
                    log.flush()
                    self.state.history = [{"step": self.state.step, **scalars}]
                if self.state.step % o.sample_every == 0:
                    self.save_samples(batch, losses["_visual"])
                if self.state.step % o.checkpoint_every == 0:
                    self.save()
        bar.close()
        return self.save()

    def save_samples(self, batch: dict, visual: torch.Tensor) -> Path:
        n = min(4, visual.shape[0])
        columns = [batch["person"][:n], batch["garment"][:n], visual[:n].detach().float()]
        path = self.out / "samples" / f"step_{self.state.step:06d}.png"
        return save_grid([list(row) for row in zip(*columns)], path)


class _InterruptFlag:
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


def train(
    stage: str,
    data: Path,
    out: Path,
    config: TryOnConfig,
    warper: Path | None = None,
    device: str | None = None,
    pack: Path | None = None,
    resume: bool = True,
) -> Path:
    """Train one stage on ROOT (``data``) into the run directory ``out``; returns the checkpoint path."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    trainer = Trainer(stage, config, Path(out), device, warper=warper)
    if resume:
        trainer.resume()
    dataset = load_training_data(Path(data), config, pack)
    return trainer.fit(dataset)
