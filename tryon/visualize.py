"""Image grids for training samples and evaluation reports."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from tryon.pipeline import tensor_to_pil


def save_grid(rows: list[list[torch.Tensor]], path: str | Path, height: int = 256) -> Path:
    """Save a grid of images, one list of ``(3, H, W)`` tensors in [-1, 1] per row, each cell ``height`` tall.

    Masks ``(1, H, W)`` in [0, 1] are shown in grey.
    """
    cells = [[_as_rgb(cell, height) for cell in row] for row in rows]
    width = max(sum(cell.shape[-1] for cell in row) for row in cells)
    canvas = torch.ones(3, height * len(cells), width)
    for r, row in enumerate(cells):
        x = 0
        for cell in row:
            canvas[:, r * height : (r + 1) * height, x : x + cell.shape[-1]] = cell
            x += cell.shape[-1]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensor_to_pil(canvas).save(path)
    return path


def _as_rgb(cell: torch.Tensor, height: int) -> torch.Tensor:
    cell = cell.detach().float().cpu()
    if cell.shape[0] == 1:
        cell = cell.repeat(3, 1, 1) * 2 - 1
    width = round(cell.shape[-1] * height / cell.shape[-2])
    return F.interpolate(cell[None], size=(height, width), mode="bilinear", align_corners=False)[0].clamp(-1, 1)
