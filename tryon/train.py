"""Training of the try-on model's two stages, the warper and the generator (``tryon train warper|generator``).

The loop, run directory, checkpoints with optimiser state, resume and Ctrl-C are tryon.loop's::

    RUN/config.json               the resolved config
    RUN/log.csv                   step, seconds, every loss term
    RUN/samples/step_000500.png   person | garment | warped garment or result
    RUN/checkpoint/               latest checkpoint (see tryon.checkpoint), with optimiser state
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from tryon.checkpoint import load_checkpoint, save_checkpoint, save_state_dict
from tryon.config import TryOnConfig
from tryon.loop import LoopTrainer, TrainState, load_training_data
from tryon.losses import adversarial_loss, composition_loss, feature_matching_loss, warper_losses
from tryon.model import TryOnModel
from tryon.networks.discriminator import MultiScaleDiscriminator
from tryon.representation import REPRESENTATION_CHANNELS, tryon_region, worn_garment_mask

STAGES = ("warper", "generator")


class Trainer(LoopTrainer):
    """One stage's training: owns the model, its discriminator (generator stage) and their optimisers."""

    postfix_keys = ("total", "l1", "gan", "mask")

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
        self.optimizer_step("warper", losses["total"])
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
        self.optimizer_step("generator", losses["total"])
        losses.update(self.discriminator_step(condition.detach(), result.detach(), batch["person"]))
        return {**losses, "_visual": result}

    def discriminator_step(self, condition, fake, real) -> dict[str, torch.Tensor]:
        mode = self.config.generator.gan_mode
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            fake_loss = adversarial_loss(self.discriminator(torch.cat([condition, fake], 1)), False, mode, True)
            real_loss = adversarial_loss(self.discriminator(torch.cat([condition, real], 1)), True, mode, True)
        total = 0.5 * (fake_loss + real_loss)
        self.optimizer_step("discriminator", total)
        return {"d_fake": fake_loss, "d_real": real_loss}

    def _perceptual(self, fake, real) -> torch.Tensor:
        if self.config.generator.weight_perceptual <= 0:
            return torch.zeros((), device=fake.device)
        if self.perceptual is None:
            from tryon.networks.perceptual import PerceptualLoss

            self.perceptual = PerceptualLoss().to(self.device)
        return self.perceptual(fake, real)

    # -- the loop's hooks (tryon.loop) ------------------------------------------------------------

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        return self.warper_step(batch) if self.stage == "warper" else self.generator_step(batch)

    def train_mode(self) -> None:
        self.model.train()
        if self.stage == "generator":
            self.model.warper.eval()  # frozen: its batch norm statistics must not drift

    def save_weights(self, path: Path) -> Path:
        path = save_checkpoint(self.model, path)
        if self.discriminator is not None:
            save_state_dict(self.discriminator, path / "discriminator.safetensors")
        return path

    def load_weights(self, path: Path) -> None:
        self.model.load_state_dict(load_checkpoint(path, map_location=self.device).state_dict())
        if self.discriminator is not None:
            self.discriminator.load_state_dict(
                load_file(str(path / "discriminator.safetensors"), device=str(self.device))
            )

    def sample_columns(self, batch: dict, visual: torch.Tensor) -> list[torch.Tensor]:
        return [batch["person"], batch["garment"], visual]


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
