"""Training augmentation: flip, scale/shift jitter and colour jitter of a sample (see tryon.data.dataset).

Each transform is a pure function of the sample and its parameters; :class:`Augmenter` only draws the
parameters from its generator. Geometry moves the person photo, its parse and its keypoints together so
they stay consistent; colour touches images only, never masks or labels.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tryon.config import DataConfig
from tryon.data.labels import COCO18_FLIP_PAIRS, LIP_FLIP_PAIRS, NUM_LIP_LABELS

Sample = dict[str, Any]


def _swap_table(pairs: tuple[tuple[int, int], ...], size: int) -> torch.Tensor:
    table = torch.arange(size)
    for left, right in pairs:
        table[left], table[right] = right, left
    return table


def flip_keypoints(keypoints: torch.Tensor, width: int) -> torch.Tensor:
    """Mirror (..., 18, 3) keypoints in an image ``width`` wide: x -> W - 1 - x, left/right indices swapped.

    A mirrored right shoulder is where a left shoulder would be, so the indices swap too. Missing points
    stay (0, 0, 0).
    """
    flipped = keypoints[..., _swap_table(COCO18_FLIP_PAIRS, keypoints.shape[-2]), :].clone()
    present = flipped[..., 2] > 0
    flipped[..., 0] = torch.where(present, width - 1 - flipped[..., 0], flipped[..., 0])
    return flipped


def flip_parse(parse: torch.Tensor) -> torch.Tensor:
    """Mirror a (..., H, W) LIP parse, swapping left/right labels (a mirrored left arm is a right arm)."""
    return _swap_table(LIP_FLIP_PAIRS, NUM_LIP_LABELS).to(parse.device)[parse.flip(-1).long()].to(parse.dtype)


def flip_sample(sample: Sample) -> Sample:
    """Horizontal mirror of person, parse, keypoints, garment and garment mask (a mirrored top is a top)."""
    out = dict(sample)
    out["person"] = sample["person"].flip(-1)
    out["parse"] = flip_parse(sample["parse"])
    out["keypoints"] = flip_keypoints(sample["keypoints"], sample["person"].shape[-1])
    out["garment"] = sample["garment"].flip(-1)
    out["garment_mask"] = sample["garment_mask"].flip(-1)
    return out


def affine_jitter(sample: Sample, scale: float, shift_x: float, shift_y: float) -> Sample:
    """Scale the person about the image centre by ``scale``, then shift by (``shift_x``, ``shift_y``) pixels.

    The photo is resampled bilinearly, the parse by nearest neighbour, both replicating the border (the
    photos' backgrounds are plain); keypoints move the same way and become missing outside the image.
    """
    height, width = sample["person"].shape[-2:]
    theta = _inverse_theta(scale, 2.0 * shift_x / max(width - 1, 1), 2.0 * shift_y / max(height - 1, 1))
    out = dict(sample)
    out["person"] = _warp(sample["person"], theta, "bilinear")
    out["parse"] = _warp(sample["parse"][None].float(), theta, "nearest")[0].round().to(sample["parse"].dtype)
    out["keypoints"] = _move_keypoints(sample["keypoints"], scale, shift_x, shift_y, height, width)
    return out


def _inverse_theta(scale: float, shift_x: float, shift_y: float) -> torch.Tensor:
    """affine_grid maps output to input coordinates: the inverse of out = scale * in + shift (normalised)."""
    return torch.tensor([[1 / scale, 0.0, -shift_x / scale], [0.0, 1 / scale, -shift_y / scale]])


def _warp(image: torch.Tensor, theta: torch.Tensor, mode: str) -> torch.Tensor:
    grid = F.affine_grid(theta[None].to(image), [1, *image.shape], align_corners=True)
    return F.grid_sample(image[None], grid, mode=mode, padding_mode="border", align_corners=True)[0]


def _move_keypoints(
    keypoints: torch.Tensor, scale: float, shift_x: float, shift_y: float, height: int, width: int
) -> torch.Tensor:
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2])
    moved = keypoints.clone()
    moved[:, :2] = (keypoints[:, :2] - centre) * scale + centre + torch.tensor([shift_x, shift_y])
    x, y = moved[:, 0], moved[:, 1]
    keep = (keypoints[:, 2] > 0) & (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    moved[~keep] = 0.0
    return moved


def color_jitter(image: torch.Tensor, brightness: float, contrast: float, saturation: float) -> torch.Tensor:
    """Jitter a (3, H, W) image in [-1, 1]: each factor is 1 for no change (torchvision's definitions)."""
    rgb = (image + 1) / 2 * brightness
    rgb = rgb.clamp(0, 1)
    grey = _grey(rgb)
    rgb = ((rgb - grey.mean()) * contrast + grey.mean()).clamp(0, 1)
    rgb = ((rgb - _grey(rgb)) * saturation + _grey(rgb)).clamp(0, 1)
    return rgb * 2 - 1


def _grey(rgb: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype, device=rgb.device)
    return (rgb * weights[:, None, None]).sum(0, keepdim=True)


def color_jitter_sample(sample: Sample, brightness: float, contrast: float, saturation: float) -> Sample:
    """The same colour jitter on person and garment: the worn garment must keep the in-shop garment's
    colour, or paired training would teach the generator that colours may drift."""
    out = dict(sample)
    out["person"] = color_jitter(sample["person"], brightness, contrast, saturation)
    out["garment"] = color_jitter(sample["garment"], brightness, contrast, saturation)
    return out


class Augmenter:
    """Random flip, scale/shift and colour jitter per ``config``; identity when ``config.augment`` is off.

    With ``generator`` the draws are reproducible; without, torch's global generator is used, which
    DataLoader seeds per worker. A given generator is copied into every DataLoader worker, so with
    ``num_workers > 0`` pass none (or the workers would repeat each other's draws).
    """

    def __init__(self, config: DataConfig, generator: torch.Generator | None = None) -> None:
        self.config = config
        self.generator = generator

    def _uniform(self, amplitude: float) -> float:
        """A draw from [-amplitude, amplitude]."""
        return (torch.rand((), generator=self.generator).item() * 2 - 1) * amplitude

    def __call__(self, sample: Sample) -> Sample:
        config = self.config
        if not config.augment:
            return sample
        if torch.rand((), generator=self.generator).item() < config.flip_p:
            sample = flip_sample(sample)
        if config.scale_jitter > 0 or config.shift_jitter > 0:
            height, width = sample["person"].shape[-2:]
            scale = 1 + self._uniform(config.scale_jitter)
            shift_x = self._uniform(config.shift_jitter) * width
            shift_y = self._uniform(config.shift_jitter) * height
            sample = affine_jitter(sample, scale, shift_x, shift_y)
        if config.color_jitter > 0:
            factors = [1 + self._uniform(config.color_jitter) for _ in range(3)]
            sample = color_jitter_sample(sample, *factors)
        return sample
