"""Losses, each returned as a dict of named scalars so the training loop can log every term (SPADE style).

Conventions: discriminator outputs are lists (one per scale) of feature lists whose last entry is the
patch score map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tryon.networks.tps import grid_smoothness

DiscriminatorOutput = list[list[torch.Tensor]]


def adversarial_loss(
    scores: DiscriminatorOutput, target_is_real: bool, mode: str, for_discriminator: bool
) -> torch.Tensor:
    """LSGAN or hinge loss averaged over scales.

    For the generator, hinge reduces to ``-mean(score)`` (as in SPADE), whatever ``target_is_real``.
    """
    total = torch.zeros((), device=scores[0][-1].device)
    for features in scores:
        score = features[-1].float()
        if mode == "lsgan":
            total = total + F.mse_loss(score, torch.full_like(score, 1.0 if target_is_real else 0.0))
        elif mode == "hinge":
            if for_discriminator:
                total = total + (F.relu(1 - score) if target_is_real else F.relu(1 + score)).mean()
            else:
                total = total - score.mean()
        else:
            raise ValueError(f"unknown gan_mode {mode!r}: expected lsgan or hinge")
    return total / len(scores)


def feature_matching_loss(fake: DiscriminatorOutput, real: DiscriminatorOutput) -> torch.Tensor:
    """L1 between the discriminator's intermediate features on fake and (detached) real inputs."""
    total = torch.zeros((), device=fake[0][-1].device)
    count = 0
    for fake_features, real_features in zip(fake, real):
        for f, r in zip(fake_features[:-1], real_features[:-1]):
            total = total + F.l1_loss(f.float(), r.detach().float())
            count += 1
    return total / max(count, 1)


def warper_losses(
    warped_garment: torch.Tensor,
    warped_mask: torch.Tensor,
    target_garment: torch.Tensor,
    target_mask: torch.Tensor,
    points: torch.Tensor,
    grid_size: int,
    mask_weight: float,
    smoothness_weight: float,
) -> dict[str, torch.Tensor]:
    """Warper objective against the worn garment's region of the person photo.

    Args:
        warped_garment: ``(B, 3, H, W)``; warped_mask: ``(B, 1, H, W)``.
        target_garment: person photo times its worn-garment mask ``(B, 3, H, W)``.
        target_mask: worn-garment mask from the parse ``(B, 1, H, W)``.
        points: ``(B, G*G, 2)`` predicted source points.

    Returns:
        ``{"l1", "mask", "smooth", "total"}``.
    """
    l1 = F.l1_loss(warped_garment * warped_mask, target_garment)
    mask = F.l1_loss(warped_mask, target_mask)
    smooth = grid_smoothness(points, grid_size)
    return {
        "l1": l1,
        "mask": mask,
        "smooth": smooth,
        "total": l1 + mask_weight * mask + smoothness_weight * smooth,
    }


def composition_loss(composition: torch.Tensor, warped_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Pull the composition mask toward the part of the warped garment that lies on the real garment.

    Without it the generator learns to ignore the warped garment and paint blurry cloth itself.
    """
    return F.l1_loss(composition, warped_mask * target_mask)
