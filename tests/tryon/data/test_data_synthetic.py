"""Synthetic fixtures: the real layouts, deterministic, and a person who wears the garment shown."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tryon.data.labels import CIHP_TORSO_SKIN, FACE, HAIR, LEFT_ARM, PANTS, RIGHT_ARM, UPPER_CLOTHES
from tryon.data.synthetic import synthetic_sample, write_synthetic_dataset


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_viton_layout_files(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, "viton", num_pairs=2, size=(32, 24))
    assert (tmp_path / "train_pairs.txt").read_text() == "000000_0.jpg 000000_1.jpg\n000001_0.jpg 000001_1.jpg\n"
    assert (tmp_path / "val_pairs.txt").read_text() == "000002_0.jpg 000002_1.jpg\n000003_0.jpg 000003_1.jpg\n"
    assert (tmp_path / "val_pairs_unpaired.txt").read_text() == "000002_0.jpg 000003_1.jpg\n000003_0.jpg 000002_1.jpg\n"
    assert not (tmp_path / "train_pairs_unpaired.txt").exists()
    val = tmp_path / "val"
    for name in ("image/000002_0.jpg", "cloth/000002_1.jpg", "cloth-mask/000002_1.jpg", "image-parse/000002_0.png"):
        assert Image.open(val / name).size == (24, 32), name
    assert Image.open(val / "image-parse/000002_0.png").mode == "P"
    pose = json.loads((val / "pose/000002_0_keypoints.json").read_text())
    assert len(pose["people"][0]["pose_keypoints"]) == 54


def test_viton_hd_layout_files_use_cihp_and_body25(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, "viton-hd", num_pairs=1, splits=("test",), size=(32, 24))
    split = tmp_path / "test"
    assert {p.name for p in split.iterdir()} == {"image", "cloth", "cloth-mask", "image-parse-v3", "openpose_json"}
    labels = np.asarray(Image.open(split / "image-parse-v3/000000_0.png"))
    assert CIHP_TORSO_SKIN in labels  # the neck, as CIHP labels it
    pose = json.loads((split / "openpose_json/000000_0_keypoints.json").read_text())
    assert len(pose["people"][0]["pose_keypoints_2d"]) == 75
    assert not (tmp_path / "test_pairs_unpaired.txt").exists()  # one person has no other garment


def test_writer_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path / "a", num_pairs=2, seed=5)
    write_synthetic_dataset(tmp_path / "b", num_pairs=2, seed=5)
    write_synthetic_dataset(tmp_path / "c", num_pairs=2, seed=6)
    assert all_files(tmp_path / "a") == all_files(tmp_path / "b")
    assert all_files(tmp_path / "a") != all_files(tmp_path / "c")


def test_writer_rejects_unknown_layout_and_no_pairs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown layout"):
        write_synthetic_dataset(tmp_path, "deepfashion")
    with pytest.raises(ValueError, match="num_pairs"):
        write_synthetic_dataset(tmp_path, num_pairs=0)


def test_synthetic_sample_format() -> None:
    sample = synthetic_sample((32, 24), seed=1)
    assert sample["person"].shape == (3, 32, 24) and sample["person"].dtype == torch.float32
    assert sample["parse"].shape == (32, 24) and sample["parse"].dtype == torch.int64
    assert sample["keypoints"].shape == (18, 3) and sample["garment_mask"].shape == (1, 32, 24)
    assert set(sample["parse"].unique().tolist()) >= {0, HAIR, UPPER_CLOTHES, PANTS, FACE, LEFT_ARM, RIGHT_ARM}
    assert (sample["person_name"], sample["garment_name"]) == ("000001_0.jpg", "000001_1.jpg")
    unpaired = synthetic_sample((32, 24), seed=1, garment_seed=2)
    assert unpaired["garment_name"] == "000002_1.jpg"
    assert torch.equal(unpaired["person"], sample["person"])
    assert not torch.equal(unpaired["garment"], sample["garment"])


@pytest.mark.parametrize("seed", range(6))
def test_person_wears_the_colours_of_the_garment_shown(seed: int) -> None:
    sample = synthetic_sample((64, 48), seed=seed)

    def colours(image: torch.Tensor, region: torch.Tensor) -> set[tuple[float, ...]]:
        return {tuple(c) for c in image.permute(1, 2, 0)[region].tolist()}

    worn = colours(sample["person"], sample["parse"] == UPPER_CLOTHES)
    shown = colours(sample["garment"], sample["garment_mask"][0] > 0)
    assert worn == shown and len(worn) <= 2
