"""Datasets in both layouts, read from small synthetic datasets written to tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from tryon.config import DataConfig
from tryon.data.augment import Augmenter, flip_sample
from tryon.data.dataset import InMemoryDataset, TryOnDataset, detect_layout, read_pairs
from tryon.data.formats import DataError, read_image
from tryon.data.labels import LEFT_ARM, NUM_LIP_LABELS, RIGHT_ARM
from tryon.data.synthetic import write_synthetic_dataset

SIZE = (64, 48)


@pytest.fixture(scope="module")
def viton_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("viton"), "viton", num_pairs=3, size=SIZE)


@pytest.fixture(scope="module")
def viton_hd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("viton_hd"), "viton-hd", num_pairs=3, size=SIZE)


@pytest.fixture
def viton_copy(viton_root: Path, tmp_path: Path) -> Path:
    """A copy to damage."""
    return Path(shutil.copytree(viton_root, tmp_path / "copy"))


def val_dataset(root: Path, pairs: str = "val_pairs.txt", **kwargs) -> TryOnDataset:
    return TryOnDataset(root / "val", root / pairs, **kwargs)


# --- pairs and layouts --------------------------------------------------------------------------------


def test_read_pairs_ignores_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "pairs.txt").write_text("a_0.jpg a_1.jpg\n\n  \nb_0.jpg c_1.jpg\n")
    assert read_pairs(tmp_path / "pairs.txt") == [("a_0.jpg", "a_1.jpg"), ("b_0.jpg", "c_1.jpg")]


def test_malformed_pairs_line_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "pairs.txt").write_text("a_0.jpg a_1.jpg\n\nb_0.jpg\n")
    with pytest.raises(DataError, match=r"pairs\.txt: line 3: expected"):
        read_pairs(tmp_path / "pairs.txt")


def test_missing_pairs_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing file"):
        read_pairs(tmp_path / "pairs.txt")


def test_detect_layout(viton_root: Path, viton_hd_root: Path) -> None:
    assert detect_layout(viton_root / "train") == "viton"
    assert detect_layout(viton_hd_root / "train") == "viton-hd"


def test_unknown_layout_lists_what_is_missing(viton_copy: Path) -> None:
    shutil.rmtree(viton_copy / "val" / "image-parse")
    for pose in (viton_copy / "val" / "pose").iterdir():
        pose.unlink()
    with pytest.raises(DataError, match=r"viton layout misses image-parse/, pose/\*_keypoints\.json") as caught:
        detect_layout(viton_copy / "val")
    assert "viton-hd layout misses image-parse-v3/, openpose_json/" in str(caught.value)


# --- samples ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["viton", "viton-hd"])
def test_sample_format(viton_root: Path, viton_hd_root: Path, layout: str) -> None:
    root = viton_root if layout == "viton" else viton_hd_root
    dataset = val_dataset(root, size=SIZE, check=True)
    assert dataset.layout == layout and len(dataset) == 3
    sample = dataset[0]
    assert sample["person"].shape == (3, *SIZE) and sample["person"].dtype == torch.float32
    assert sample["garment"].shape == (3, *SIZE) and sample["garment"].dtype == torch.float32
    for key in ("person", "garment"):
        assert sample[key].min() >= -1 and sample[key].max() <= 1
    assert sample["parse"].shape == SIZE and sample["parse"].dtype == torch.int64
    assert sample["parse"].min() >= 0 and sample["parse"].max() < NUM_LIP_LABELS
    assert sample["garment_mask"].shape == (1, *SIZE)
    assert set(sample["garment_mask"].unique().tolist()) == {0.0, 1.0}
    assert sample["keypoints"].shape == (18, 3) and sample["keypoints"].dtype == torch.float32
    assert (sample["person_name"], sample["garment_name"]) == ("000003_0.jpg", "000003_1.jpg")


def test_both_layouts_read_to_the_same_internal_sample(viton_root: Path, viton_hd_root: Path) -> None:
    """Same figures, written as LIP + COCO-18 and as CIHP + BODY_25: conversion must undo the difference."""
    viton, viton_hd = val_dataset(viton_root)[1], val_dataset(viton_hd_root)[1]
    assert torch.equal(viton["parse"], viton_hd["parse"])
    assert torch.allclose(viton["keypoints"], viton_hd["keypoints"])
    assert torch.equal(viton["person"], viton_hd["person"])


def test_keypoints_land_on_the_matching_body_parts(viton_root: Path) -> None:
    sample = val_dataset(viton_root)[0]
    points, parse = sample["keypoints"], sample["parse"]
    label_at = lambda index: int(parse[int(points[index, 1].round()), int(points[index, 0].round())])  # noqa: E731
    assert label_at(3) == RIGHT_ARM and label_at(6) == LEFT_ARM  # elbows
    assert points[2, 0] < points[5, 0]  # facing the camera: the right shoulder is on the image's left


def test_paired_and_unpaired_modes(viton_root: Path) -> None:
    paired = val_dataset(viton_root)
    unpaired = val_dataset(viton_root, "val_pairs_unpaired.txt")
    assert (paired.mode, unpaired.mode) == ("paired", "unpaired")
    sample = unpaired[0]
    assert (sample["person_name"], sample["garment_name"]) == ("000003_0.jpg", "000004_1.jpg")
    assert torch.equal(sample["garment"], read_image(viton_root / "val" / "cloth" / "000004_1.jpg"))
    assert torch.equal(sample["person"], paired[0]["person"])


def test_expected_size_mismatch_names_the_person_photo(viton_root: Path) -> None:
    with pytest.raises(DataError, match=r"000003_0\.jpg: wrong size: expected 32x24, got 64x48"):
        val_dataset(viton_root, size=(32, 24))[0]


def test_parse_of_another_size_than_the_photo_is_wrong_size(viton_copy: Path) -> None:
    parse_path = viton_copy / "val" / "image-parse" / "000003_0.png"
    Image.open(parse_path).resize((24, 32)).save(parse_path)
    with pytest.raises(DataError, match=r"000003_0\.png: wrong size: expected 64x48, got 32x24"):
        val_dataset(viton_copy)[0]


def test_unreadable_photo_in_a_dataset(viton_copy: Path) -> None:
    (viton_copy / "val" / "cloth" / "000004_1.jpg").write_bytes(b"\xff\xd8 garbage")
    with pytest.raises(DataError, match=r"000004_1\.jpg: unreadable image"):
        val_dataset(viton_copy)[1]


def test_check_names_the_first_missing_file_and_the_count(viton_copy: Path) -> None:
    (viton_copy / "val" / "cloth-mask" / "000004_1.jpg").unlink()
    (viton_copy / "val" / "pose" / "000005_0_keypoints.json").unlink()
    val_dataset(viton_copy)  # not checked: constructs fine
    with pytest.raises(DataError, match=r"000004_1\.jpg: missing file \(and 1 more missing"):
        val_dataset(viton_copy, check=True)


def test_bad_pose_file_in_a_dataset(viton_copy: Path) -> None:
    (viton_copy / "val" / "pose" / "000003_0_keypoints.json").write_text(json.dumps({"people": []}))
    with pytest.raises(DataError, match=r"000003_0_keypoints\.json: no person in pose file"):
        val_dataset(viton_copy)[0]


def test_dataloader_batches_samples(viton_root: Path) -> None:
    batch = next(iter(DataLoader(val_dataset(viton_root), batch_size=2)))
    assert batch["person"].shape == (2, 3, *SIZE) and batch["keypoints"].shape == (2, 18, 3)
    assert batch["person_name"] == ["000003_0.jpg", "000004_0.jpg"]


def test_augmenter_is_applied_on_access(viton_root: Path) -> None:
    config = DataConfig(flip_p=1.0, scale_jitter=0.0, shift_jitter=0.0, color_jitter=0.0)
    plain, flipped = val_dataset(viton_root), val_dataset(viton_root, augment=Augmenter(config))
    assert torch.equal(flipped[0]["parse"], flip_sample(plain[0])["parse"])


# --- in memory and packs ------------------------------------------------------------------------------


def assert_same_samples(left, right) -> None:
    assert len(left) == len(right)
    for index in range(len(left)):
        a, b = left[index], right[index]
        assert a.keys() == b.keys()
        for key, value in a.items():
            assert torch.equal(value, b[key]) if isinstance(value, torch.Tensor) else value == b[key], key


@pytest.mark.parametrize("layout", ["viton", "viton-hd"])
def test_in_memory_dataset_returns_the_same_samples(viton_root: Path, viton_hd_root: Path, layout: str) -> None:
    source = val_dataset(viton_root if layout == "viton" else viton_hd_root, "val_pairs_unpaired.txt")
    memory = InMemoryDataset(source)
    assert memory.tensors["person"].dtype == torch.uint8 and memory.tensors["parse"].dtype == torch.uint8
    assert memory.size == SIZE and (memory.layout, memory.mode) == (layout, "unpaired")
    assert_same_samples(source, memory)


@pytest.mark.parametrize("codec", ["raw", "png"])
def test_lossless_pack_round_trip_equals_the_original(viton_root: Path, tmp_path: Path, codec: str) -> None:
    source = val_dataset(viton_root)
    sidecar = InMemoryDataset(source).save(tmp_path / "val.safetensors", image_codec=codec)
    assert sidecar == tmp_path / "val.json"
    loaded = InMemoryDataset.load(tmp_path / "val.safetensors")
    assert (loaded.layout, loaded.mode) == ("viton", "paired")
    assert_same_samples(source, loaded)


def test_default_pack_is_exact_but_for_small_image_error(viton_root: Path, tmp_path: Path) -> None:
    memory = InMemoryDataset(val_dataset(viton_root))
    memory.save(tmp_path / "val.safetensors")
    loaded = InMemoryDataset.load(tmp_path / "val.safetensors")
    for key in ("parse", "garment_mask", "keypoints"):
        assert torch.equal(loaded.tensors[key], memory.tensors[key]), key
    assert loaded.person_names == memory.person_names and loaded.garment_names == memory.garment_names
    for key in ("person", "garment"):
        error = (loaded.tensors[key].float() - memory.tensors[key].float()).abs().mean()
        assert error < 4, key  # out of 255; lossy WebP


def test_pack_load_applies_the_given_augmenter(viton_root: Path, tmp_path: Path) -> None:
    memory = InMemoryDataset(val_dataset(viton_root))
    memory.save(tmp_path / "val.safetensors", image_codec="raw")
    config = DataConfig(flip_p=1.0, scale_jitter=0.0, shift_jitter=0.0, color_jitter=0.0)
    loaded = InMemoryDataset.load(tmp_path / "val.safetensors", augment=Augmenter(config))
    assert torch.equal(loaded[0]["keypoints"], flip_sample(memory[0])["keypoints"])


def test_in_memory_dataset_rejects_mixed_sizes(viton_copy: Path) -> None:
    for kind in ("image", "cloth", "cloth-mask"):
        for path in (viton_copy / "val" / kind).glob("000004_*.jpg"):
            Image.open(path).resize((24, 32)).save(path)
    path = viton_copy / "val" / "image-parse" / "000004_0.png"
    Image.open(path).resize((24, 32), Image.NEAREST).save(path)
    with pytest.raises(DataError, match=r"000004_0\.jpg: wrong size: expected 64x48 like the first sample"):
        InMemoryDataset(val_dataset(viton_copy))


def test_pack_without_sidecar_or_with_a_damaged_file(viton_root: Path, tmp_path: Path) -> None:
    InMemoryDataset(val_dataset(viton_root)).save(tmp_path / "val.safetensors")
    (tmp_path / "val.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(DataError, match=r"val\.safetensors: unreadable pack"):
        InMemoryDataset.load(tmp_path / "val.safetensors")
    (tmp_path / "val.json").unlink()
    with pytest.raises(DataError, match=r"val\.json: missing file"):
        InMemoryDataset.load(tmp_path / "val.safetensors")


def test_pack_holds_no_pickle(viton_root: Path, tmp_path: Path) -> None:
    InMemoryDataset(val_dataset(viton_root)).save(tmp_path / "val.safetensors")
    header_length = int.from_bytes((tmp_path / "val.safetensors").read_bytes()[:8], "little")
    header = json.loads((tmp_path / "val.safetensors").read_bytes()[8 : 8 + header_length])
    assert {value["dtype"] for key, value in header.items() if key != "__metadata__"} <= {"U8", "I64", "F32"}
    assert np.array(json.loads((tmp_path / "val.json").read_text())["size"]).tolist() == list(SIZE)
