"""Evaluation run: render every pair of a pairs file, save the images, and report metrics.

For each pair the model's result and the paste baseline (the warped garment laid on the photo with its
try-on region blanked, no generator) are rendered at the data's resolution and scored the same way, so
the report shows what the generator adds. Output directory::

    OUT/<person stem>.png           the model's result (``<person stem>_<garment stem>.png`` when a
    OUT/baseline/<person stem>.png  person occurs in several pairs), and the baseline's
    OUT/grid.png                    the first 8 pairs; rows: person, garment, baseline, model
    OUT/metrics.json                the returned dict
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from tryon import metrics
from tryon.config import to_dict
from tryon.data.dataset import TryOnDataset
from tryon.pipeline import tensor_to_pil
from tryon.representation import worn_garment_mask
from tryon.visualize import save_grid

GRID_PAIRS = 8
RESULTS = ("model", "baseline")
PAIRED_METRICS = {"ssim": metrics.ssim, "psnr": metrics.psnr, "l1": metrics.l1}
CONVENTIONS = {
    "ssim": "vs the person photo; [0,1] range, Gaussian window 11, sigma 1.5, valid region",
    "psnr": "vs the person photo; dB on the [0,1] range (MSE floored at 1e-10)",
    "l1": "vs the person photo; mean absolute difference on the [0,1] range",
    "fid": "vs the distinct person photos of the pairs file; TF Inception 2015-12-05 pool features",
    "kid": "as fid; unbiased MMD² with the kernel (x.y/2048 + 1)^3, mean and std over seeded subsets",
    "warp_mask_iou": "warped garment mask vs the worn top garment (upper-clothes, dress, coat) in the parse",
}
# Below this many images the FID estimate is dominated by its bias (the covariance is 2048x2048).
FID_RELIABLE_SAMPLES = 2048


def evaluate(
    pipeline,
    split_dir: str | Path,
    pairs_file: str | Path,
    out_dir: str | Path,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    compute_fid: bool = True,
) -> dict[str, Any]:
    """Render every pair of ``pairs_file`` in ``split_dir`` with ``pipeline`` and write the report.

    Args:
        pipeline: a :class:`tryon.pipeline.TryOnPipeline`.
        split_dir, pairs_file: a dataset split, read with :class:`tryon.data.dataset.TryOnDataset`.
        out_dir: created if needed; files of an earlier run are overwritten.
        device: where the Inception network runs; default the pipeline's device.
        compute_fid: FID and KID of model and baseline against the real person photos, in both modes.

    Returns:
        The content of ``OUT/metrics.json``: pairs file, mode, count, checkpoint, config, and for "model"
        and "baseline" the paired metrics (SSIM, PSNR, L1; paired mode only) and FID/KID, plus
        "warp_mask_iou" (labelled: only meaningful in paired mode).
    """
    dataset = TryOnDataset(split_dir, pairs_file)
    if len(dataset) == 0:
        raise ValueError(f"{pairs_file}: no pairs to evaluate")
    out_dir = Path(out_dir)
    (out_dir / "baseline").mkdir(parents=True, exist_ok=True)
    names = _output_names(dataset.pairs)
    inception = metrics.InceptionFeatures(device or pipeline.device) if compute_fid else None
    scores: dict[str, list[torch.Tensor]] = {}
    features: dict[str, list[torch.Tensor]] = {"real": [], "model": [], "baseline": []}
    seen_persons: set[str] = set()
    grid_rows: list[list[torch.Tensor]] = [[], [], [], []]

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for index, batch in enumerate(tqdm(loader, desc="evaluate", unit="batch", leave=False)):
        start = index * batch_size
        output = pipeline.render(
            batch["person"],
            batch["keypoints"],
            batch["parse"],
            batch["garment"],
            batch["garment_mask"],
            return_intermediates=True,
        )
        results = {"model": output.image, "baseline": output.baseline}
        _save_images(results, names[start : start + len(output.image)], out_dir)
        _collect(scores, "warp_mask_iou", metrics.mask_iou(output.warped_mask, worn_garment_mask(batch["parse"])))
        if dataset.mode == "paired":
            for result, images in results.items():
                for name, metric in PAIRED_METRICS.items():
                    _collect(scores, f"{result}.{name}", metric(images, batch["person"]))
        if inception is not None:
            _collect_features(features, inception, batch, results, seen_persons)
        _add_grid_columns(grid_rows, batch, results)

    resolution = tuple(batch["person"].shape[-2:])
    report = _report(pipeline, dataset, pairs_file, resolution, scores, features if compute_fid else None)
    save_grid(grid_rows, out_dir / "grid.png", height=resolution[0])
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _output_names(pairs: list[tuple[str, str]]) -> list[str]:
    """File names for the pairs' results: the person's stem, or person_garment where a person repeats."""
    stems = [(Path(person).stem, Path(garment).stem) for person, garment in pairs]
    counts = Counter(person for person, _ in stems)
    return [f"{p}.png" if counts[p] == 1 else f"{p}_{g}.png" for p, g in stems]


def _save_images(results: dict[str, torch.Tensor], names: list[str], out_dir: Path) -> None:
    for index, name in enumerate(names):
        tensor_to_pil(results["model"][index]).save(out_dir / name)
        tensor_to_pil(results["baseline"][index]).save(out_dir / "baseline" / name)


def _collect(scores: dict[str, list[torch.Tensor]], key: str, values: torch.Tensor) -> None:
    scores.setdefault(key, []).append(values.detach().double().cpu())


def _collect_features(features, inception, batch, results, seen_persons: set[str]) -> None:
    """Inception features of the results, and of each person photo the first time it is seen."""
    for result, images in results.items():
        features[result].append(inception(images))
    new = [i for i, name in enumerate(batch["person_name"]) if name not in seen_persons]
    seen_persons.update(batch["person_name"])
    if new:
        features["real"].append(inception(batch["person"][new]))


def _add_grid_columns(grid_rows: list[list[torch.Tensor]], batch, results) -> None:
    take = GRID_PAIRS - len(grid_rows[0])
    columns = (batch["person"], batch["garment"], results["baseline"], results["model"])
    for row, images in zip(grid_rows, columns, strict=True):
        row.extend(images[:take])


def _report(pipeline, dataset, pairs_file, resolution, scores, features) -> dict[str, Any]:
    paired = dataset.mode == "paired"
    report: dict[str, Any] = {
        "pairs_file": Path(pairs_file).name,
        "split_dir": str(dataset.split_dir),
        "mode": dataset.mode,
        "count": len(dataset),
        "resolution": list(resolution),
        "checkpoint": _checkpoint_name(pipeline),
        "config": to_dict(pipeline.config) if getattr(pipeline, "config", None) is not None else None,
        "conventions": CONVENTIONS,
    }
    for result in RESULTS:
        section = {name: _mean(scores[f"{result}.{name}"]) for name in PAIRED_METRICS} if paired else {}
        if features is not None:
            section.update(_distribution_metrics(features["real"], features[result]))
        report[result] = section
    report["warp_mask_iou"] = {
        "mean": _mean(scores["warp_mask_iou"]),
        "meaningful": paired,
        "note": "paired: overlap with the garment actually worn"
        if paired
        else "unpaired: the worn garment is another one, so this only compares silhouettes",
    }
    if features is not None:
        report["fid_samples"] = {"real": _count(features["real"]), "generated": _count(features["model"])}
        if _count(features["model"]) < FID_RELIABLE_SAMPLES:
            report["fid_note"] = (
                f"FID from fewer than {FID_RELIABLE_SAMPLES} images is strongly biased upwards: compare it "
                "only between runs with the same pairs file. KID is unbiased but noisy at small counts."
            )
    return report


def _distribution_metrics(real: list[torch.Tensor], generated: list[torch.Tensor]) -> dict[str, Any]:
    real_features, generated_features = torch.cat(real), torch.cat(generated)
    section: dict[str, Any] = {"fid": metrics.fid(real_features, generated_features), "kid": None}
    if min(len(real_features), len(generated_features)) >= 2:
        kid_mean, kid_std = metrics.kid(real_features, generated_features)
        section["kid"] = {"mean": kid_mean, "std": kid_std}
    return section


def _mean(chunks: list[torch.Tensor]) -> float:
    return float(torch.cat(chunks).mean())


def _count(chunks: list[torch.Tensor]) -> int:
    return sum(len(chunk) for chunk in chunks)


def _checkpoint_name(pipeline) -> str | None:
    """The checkpoint's path, where the pipeline records it."""
    path = getattr(pipeline, "checkpoint_path", None)
    return str(path) if path is not None else None
