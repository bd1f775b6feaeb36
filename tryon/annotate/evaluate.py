"""Figures of the annotators on a dataset split (``tryon eval-annotators``), written to OUT/metrics.json.

- garment mask: IoU of the classical extractor against the split's cloth-mask, per distinct garment;
- parse: IoU per LIP label accumulated over the split, their mean over the labels present in the
  reference, and the IoU of upper-clothes, arms, face and hair;
- pose: PCKh@0.5 against the split's pose files;
- try-on: SSIM of the try-on pipeline's results when pose and parse come from the annotators, against
  the SSIM with the split's own annotations (the target: within 0.02).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from tryon import metrics
from tryon.annotate.errors import NoGarmentError
from tryon.annotate.garment_mask import GarmentMaskSettings, extract_garment_masks, fill_holes
from tryon.data.dataset import TryOnDataset
from tryon.data.labels import (
    COCO18_NAMES,
    FACE,
    HAIR,
    HEAD_LABELS,
    LEFT_ARM,
    LIP_LABELS,
    NUM_KEYPOINTS,
    NUM_LIP_LABELS,
    RIGHT_ARM,
    UPPER_CLOTHES,
)
from tryon.representation import label_mask

PARTS = ("garment", "parse", "pose", "tryon")
PCKH_ALPHA = 0.5
SSIM_TARGET_GAP = 0.02
# A reference mask whose holes cover more than this share of its filled area is itself broken (the
# VITON cloth-masks of some light garments lose most of their inside): reported apart.
HOLED_REFERENCE = 0.02
CONVENTIONS = {
    "garment_mask_iou": "per distinct garment of the pairs file, vs cloth-mask thresholded at 128; "
    "a photo the extractor finds nothing in scores 0; references with holes over 2% of their filled area "
    "are counted, and the mean is also given without them",
    "parse_iou": "per label, intersection and union summed over the split's distinct persons, at the photo's "
    "resolution; miou = mean over the labels present in the reference parse maps; arms = left and right as one",
    "pckh": "a keypoint present in the reference is correct if found within 0.5 head sizes; head size = 0.6 x the "
    "diagonal of the reference parse's head box (hat, hair, sunglasses, face), after MPII",
    "tryon_ssim": "paired pairs: the pipeline's result vs the person photo (tryon.metrics.ssim), with the "
    "split's pose and parse ('files') and with the annotators' ('annotators'); garment masks from the files",
}


def evaluate_annotators(
    split_dir: str | Path,
    pairs_file: str | Path,
    out_dir: str | Path,
    parts: tuple[str, ...] = PARTS,
    annotator=None,
    pipeline=None,
    batch_size: int = 8,
    garment_settings: GarmentMaskSettings | None = None,
) -> dict[str, Any]:
    """Score the annotators on a split and write OUT/metrics.json (returned too).

    Args:
        parts: which of "garment", "parse", "pose" and "tryon" to measure.
        annotator: a :class:`tryon.annotate.annotator.Annotator` (parts parse, pose and tryon).
        pipeline: a :class:`tryon.pipeline.TryOnPipeline` (part tryon).
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown part(s) {', '.join(sorted(unknown))}: expected some of {', '.join(PARTS)}")
    if annotator is None and set(parts) & {"parse", "pose", "tryon"}:
        raise ValueError("parts parse, pose and tryon need the annotators' checkpoints")
    if pipeline is None and "tryon" in parts:
        raise ValueError("part tryon needs a try-on checkpoint")
    dataset = TryOnDataset(split_dir, pairs_file)
    if len(dataset) == 0:
        raise ValueError(f"{pairs_file}: no pairs to evaluate")
    report: dict[str, Any] = {
        "split_dir": str(dataset.split_dir),
        "pairs_file": Path(pairs_file).name,
        "count": len(dataset),
        "parts": list(parts),
        "conventions": {k: v for k, v in CONVENTIONS.items() if k.split("_")[0] in _part_keys(parts)},
    }
    scores = _Scores()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for batch in tqdm(loader, desc="evaluate annotators", unit="batch", leave=False):
        if "garment" in parts:
            scores.garments(batch, garment_settings)
        if set(parts) & {"parse", "pose", "tryon"}:
            keypoints, parse = annotator.annotate_tensors(batch["person"], require_person=False)
            scores.persons(batch, keypoints, parse, annotator, parts)
            if "tryon" in parts and dataset.mode == "paired":
                scores.tryon(batch, keypoints, parse, pipeline)
    report.update(scores.report(parts, dataset.mode))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _part_keys(parts) -> set[str]:
    names = {"garment": "garment", "parse": "parse", "pose": "pckh", "tryon": "tryon"}
    return {names[p] for p in parts}


class _Scores:
    """Running sums over the split; each person and each garment is counted once."""

    def __init__(self) -> None:
        self.garment_iou: dict[str, float] = {}
        self.holed_references: set[str] = set()
        self.seen_persons: set[str] = set()
        self.confusion = torch.zeros(NUM_LIP_LABELS, NUM_LIP_LABELS, dtype=torch.int64)
        self.pck_hits = torch.zeros(NUM_KEYPOINTS)
        self.pck_counts = torch.zeros(NUM_KEYPOINTS)
        self.missing_reported = [0, 0]  # of keypoints missing in the reference: found missing, all
        self.no_person = 0
        self.ssim: dict[str, list[torch.Tensor]] = {"files": [], "annotators": []}

    def garments(self, batch, settings) -> None:
        for index, name in enumerate(batch["garment_name"]):
            if name in self.garment_iou:
                continue
            try:
                mask = extract_garment_masks(batch["garment"][index : index + 1], settings, [name])
            except NoGarmentError:
                mask = torch.zeros_like(batch["garment_mask"][index : index + 1])
            reference = batch["garment_mask"][index : index + 1]
            self.garment_iou[name] = float(metrics.mask_iou(mask, reference)[0])
            filled = fill_holes(reference)
            if float(filled.sum() - reference.sum()) > HOLED_REFERENCE * float(filled.sum()):
                self.holed_references.add(name)

    def persons(self, batch, keypoints, parse, annotator, parts) -> None:
        new = [i for i, name in enumerate(batch["person_name"]) if name not in self.seen_persons]
        self.seen_persons.update(batch["person_name"])
        if not new:
            return
        reference_parse, reference_points = batch["parse"][new], batch["keypoints"][new]
        parse, keypoints = parse[new], keypoints[new]
        self.no_person += _count_no_person(parse, keypoints, annotator)
        if "parse" in parts:
            pairs = reference_parse.flatten() * NUM_LIP_LABELS + parse.flatten()
            self.confusion += torch.bincount(pairs, minlength=NUM_LIP_LABELS**2).view(NUM_LIP_LABELS, -1)
        if "pose" in parts:
            self._pckh(reference_points, keypoints, head_sizes(reference_parse))

    def _pckh(self, reference: torch.Tensor, predicted: torch.Tensor, head: torch.Tensor) -> None:
        present = (reference[..., 2] > 0) & (head[:, None] > 0)
        found = predicted[..., 2] > 0
        distance = (predicted[..., :2] - reference[..., :2]).norm(dim=-1)
        hit = present & found & (distance <= PCKH_ALPHA * head[:, None])
        self.pck_hits += hit.sum(0).float()
        self.pck_counts += present.sum(0).float()
        absent = reference[..., 2] <= 0
        self.missing_reported[0] += int((absent & ~found).sum())
        self.missing_reported[1] += int(absent.sum())

    def tryon(self, batch, keypoints, parse, pipeline) -> None:
        garment = {"garment": batch["garment"], "garment_mask": batch["garment_mask"]}
        files = pipeline.render(batch["person"], batch["keypoints"], batch["parse"], **garment)
        annotated = pipeline.render(batch["person"], keypoints, parse, **garment)
        self.ssim["files"].append(metrics.ssim(files, batch["person"]).double())
        self.ssim["annotators"].append(metrics.ssim(annotated, batch["person"]).double())

    def report(self, parts, mode: str) -> dict[str, Any]:
        report: dict[str, Any] = {}
        if "garment" in parts:
            report["garment_mask"] = _garment_report(self.garment_iou, self.holed_references)
        if set(parts) & {"parse", "pose", "tryon"}:
            report["persons"] = len(self.seen_persons)
            report["no_person_found"] = self.no_person
        if "parse" in parts:
            report["parse"] = _parse_report(self.confusion)
        if "pose" in parts:
            report["pose"] = self._pose_report()
        if "tryon" in parts:
            report["tryon"] = self._tryon_report(mode)
        return report

    def _pose_report(self) -> dict[str, Any]:
        counts = self.pck_counts.clamp_min(1)
        per_keypoint = {
            name: round(float(self.pck_hits[i] / counts[i]), 4)
            for i, name in enumerate(COCO18_NAMES)
            if self.pck_counts[i] > 0
        }
        found, total = self.missing_reported
        return {
            "pckh@0.5": float(self.pck_hits.sum() / self.pck_counts.sum().clamp_min(1)),
            "per_keypoint": per_keypoint,
            "reference_keypoints": int(self.pck_counts.sum()),
            "missing_reported_missing": found / total if total else None,
        }

    def _tryon_report(self, mode: str) -> dict[str, Any]:
        if mode != "paired" or not self.ssim["files"]:
            return {"note": "SSIM needs a paired pairs file (each person with its own garment)"}
        files = float(torch.cat(self.ssim["files"]).mean())
        annotators = float(torch.cat(self.ssim["annotators"]).mean())
        return {
            "ssim_files": files,
            "ssim_annotators": annotators,
            "gap": files - annotators,
            "target_gap": SSIM_TARGET_GAP,
            "target_met": files - annotators <= SSIM_TARGET_GAP,
        }


def head_sizes(parse: torch.Tensor) -> torch.Tensor:
    """MPII-style head size per person: 0.6 x the diagonal of the head labels' box; 0 without a head.

    Args:
        parse: ``(B, H, W)`` reference labels. Returns ``(B,)`` in pixels.
    """
    head = label_mask(parse, HEAD_LABELS)[:, 0] > 0
    sizes = torch.zeros(len(parse))
    for i, mask in enumerate(head):
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        if len(rows) and len(cols):
            height, width = float(rows.max() - rows.min() + 1), float(cols.max() - cols.min() + 1)
            sizes[i] = 0.6 * (height**2 + width**2) ** 0.5
    return sizes


def _count_no_person(parse: torch.Tensor, keypoints: torch.Tensor, annotator) -> int:
    fraction = (parse > 0).flatten(1).float().mean(1)
    count = (keypoints[..., 2] > 0).sum(1)
    few_pixels = fraction < annotator.parser.config.parser.min_person_fraction
    return int((few_pixels | (count < annotator.pose.config.pose.min_keypoints)).sum())


def _garment_report(ious: dict[str, float], holed: set[str]) -> dict[str, Any]:
    values = torch.tensor(list(ious.values()), dtype=torch.float64)
    whole = torch.tensor([v for name, v in ious.items() if name not in holed], dtype=torch.float64)
    worst = sorted(ious.items(), key=lambda item: item[1])[:10]
    return {
        "iou_mean": float(values.mean()),
        "iou_median": float(values.median()),
        "iou_p10": float(values.quantile(0.1)),
        "below_0.9": int((values < 0.9).sum()),
        "count": len(values),
        "references_with_holes": len(holed),
        "iou_mean_without_them": float(whole.mean()) if len(whole) else None,
        "below_0.9_without_them": int((whole < 0.9).sum()),
        "worst": {name: round(value, 4) for name, value in worst},
    }


def _parse_report(confusion: torch.Tensor) -> dict[str, Any]:
    """Per-label IoU from a ``reference x predicted`` confusion matrix."""
    intersection = confusion.diag().double()
    union = confusion.sum(0).double() + confusion.sum(1).double() - intersection
    present = confusion.sum(1) > 0
    iou = {LIP_LABELS[i]: float(intersection[i] / union[i]) for i in range(NUM_LIP_LABELS) if present[i]}
    arms = confusion[[LEFT_ARM, RIGHT_ARM]][:, [LEFT_ARM, RIGHT_ARM]].sum().double()
    arms_union = (
        confusion[[LEFT_ARM, RIGHT_ARM]].sum().double() + confusion[:, [LEFT_ARM, RIGHT_ARM]].sum().double() - arms
    )
    return {
        "miou": sum(iou.values()) / max(len(iou), 1),
        "upper_clothes_iou": iou.get(LIP_LABELS[UPPER_CLOTHES]),
        "arms_iou": float(arms / arms_union) if arms_union > 0 else None,
        "left_arm_iou": iou.get(LIP_LABELS[LEFT_ARM]),
        "right_arm_iou": iou.get(LIP_LABELS[RIGHT_ARM]),
        "face_iou": iou.get(LIP_LABELS[FACE]),
        "hair_iou": iou.get(LIP_LABELS[HAIR]),
        "pixel_accuracy": float(intersection.sum() / confusion.sum().clamp_min(1)),
        "per_label_iou": iou,
    }
