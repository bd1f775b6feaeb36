"""Augmentation keeps photo, parse and keypoints consistent, and left and right straight."""

from __future__ import annotations

import pytest
import torch

from tryon.config import DataConfig
from tryon.data.augment import Augmenter, affine_jitter, color_jitter, color_jitter_sample, flip_sample
from tryon.data.labels import LEFT_ARM, NUM_LIP_LABELS, RIGHT_ARM
from tryon.data.synthetic import synthetic_sample

SIZE = (64, 48)


@pytest.fixture
def sample() -> dict:
    return synthetic_sample(SIZE, seed=3)


def assert_samples_equal(a: dict, b: dict) -> None:
    for key, value in a.items():
        assert torch.equal(value, b[key]) if isinstance(value, torch.Tensor) else value == b[key], key


def test_flipping_twice_is_identity(sample: dict) -> None:
    twice = flip_sample(flip_sample(sample))
    assert torch.allclose(twice.pop("keypoints"), sample["keypoints"], atol=1e-5)  # x -> W-1-x rounds
    assert_samples_equal(twice, sample)


def test_flip_turns_a_left_arm_pixel_into_a_right_arm_pixel_at_the_mirrored_column(sample: dict) -> None:
    rows, cols = torch.nonzero(sample["parse"] == LEFT_ARM, as_tuple=True)
    assert len(rows) > 0
    flipped = flip_sample(sample)["parse"]
    width = SIZE[1]
    assert (flipped[rows, width - 1 - cols] == RIGHT_ARM).all()
    assert (flipped == LEFT_ARM).sum() == (sample["parse"] == RIGHT_ARM).sum()


def test_flip_turns_the_right_shoulder_into_the_left_at_the_mirrored_x(sample: dict) -> None:
    points, flipped = sample["keypoints"], flip_sample(sample)["keypoints"]
    width = SIZE[1]
    assert flipped[5].tolist() == pytest.approx(
        [width - 1 - points[2, 0].item(), points[2, 1].item(), points[2, 2].item()]
    )
    assert flipped[0, 0].item() == pytest.approx(width - 1 - points[0, 0].item())  # nose stays the nose


def test_flip_keeps_missing_points_missing(sample: dict) -> None:
    sample["keypoints"][16] = 0.0  # r-ear undetected
    flipped = flip_sample(sample)["keypoints"]
    assert flipped[17].tolist() == [0, 0, 0]  # now the l-ear, still missing, not at x = W - 1
    assert (flipped[:, 2] > 0).sum() == (sample["keypoints"][:, 2] > 0).sum()


def test_flip_mirrors_images_and_garment_together(sample: dict) -> None:
    flipped = flip_sample(sample)
    for key in ("person", "garment", "garment_mask"):
        assert torch.equal(flipped[key], sample[key].flip(-1)), key
    assert flipped["person_name"] == sample["person_name"]


def test_identity_affine_changes_nothing(sample: dict) -> None:
    moved = affine_jitter(sample, 1.0, 0.0, 0.0)
    assert torch.equal(moved["parse"], sample["parse"])
    assert torch.allclose(moved["person"], sample["person"], atol=1e-5)
    assert torch.allclose(moved["keypoints"], sample["keypoints"], atol=1e-4)


def test_whole_pixel_shift_moves_parse_photo_and_keypoints_together(sample: dict) -> None:
    moved = affine_jitter(sample, 1.0, 3.0, -2.0)
    assert torch.equal(moved["parse"][0:-2, 3:], sample["parse"][2:, :-3])
    assert torch.allclose(moved["person"][:, 0:-2, 3:], sample["person"][:, 2:, :-3], atol=1e-5)
    present = sample["keypoints"][:, 2] > 0
    expected = sample["keypoints"][present, :2] + torch.tensor([3.0, -2.0])
    inside = (expected[:, 1] >= 0) & (expected[:, 0] <= SIZE[1] - 1)
    assert torch.allclose(moved["keypoints"][present][inside, :2], expected[inside], atol=1e-4)
    assert moved["garment"] is sample["garment"]  # the garment is not jittered


def test_keypoints_pushed_out_of_the_image_become_missing(sample: dict) -> None:
    moved = affine_jitter(sample, 1.0, 0.0, -SIZE[0] * 0.2)  # the head leaves at the top
    assert moved["keypoints"][0].tolist() == [0, 0, 0]  # nose
    assert moved["keypoints"][10, 2] > 0  # r-ankle is still in


def test_scale_keeps_parse_labels_in_the_label_set(sample: dict) -> None:
    moved = affine_jitter(sample, 1.13, 1.7, -2.3)
    labels = set(moved["parse"].unique().tolist())
    assert labels <= set(sample["parse"].unique().tolist()) and max(labels) < NUM_LIP_LABELS
    assert moved["parse"].dtype == torch.int64


def test_colour_jitter_with_unit_factors_is_identity(sample: dict) -> None:
    assert torch.allclose(color_jitter(sample["person"], 1.0, 1.0, 1.0), sample["person"], atol=1e-5)


def test_colour_jitter_touches_images_only_and_stays_in_range(sample: dict) -> None:
    jittered = color_jitter_sample(sample, 1.3, 0.7, 1.5)
    assert not torch.allclose(jittered["person"], sample["person"])
    assert not torch.allclose(jittered["garment"], sample["garment"])
    for key in ("person", "garment"):
        assert jittered[key].min() >= -1 and jittered[key].max() <= 1
    for key in ("parse", "garment_mask", "keypoints"):
        assert jittered[key] is sample[key]


def test_augmenter_is_reproducible_for_a_seed_and_keeps_the_conventions(sample: dict) -> None:
    config = DataConfig(flip_p=0.5, scale_jitter=0.1, shift_jitter=0.05, color_jitter=0.2)
    first = [Augmenter(config, torch.Generator().manual_seed(1))(sample) for _ in range(2)]
    assert_samples_equal(*first)
    augment = Augmenter(config, torch.Generator().manual_seed(2))
    for _ in range(8):
        out = augment(sample)
        assert out["person"].shape == sample["person"].shape and out["parse"].dtype == torch.int64
        assert set(out["parse"].unique().tolist()) <= set(sample["parse"].unique().tolist())
        missing = out["keypoints"][:, 2] == 0
        assert (out["keypoints"][missing] == 0).all()


def test_augmenter_with_augment_off_is_identity(sample: dict) -> None:
    augment = Augmenter(DataConfig(augment=False, flip_p=1.0))
    assert augment(sample) is sample


def test_augmenter_flip_only(sample: dict) -> None:
    config = DataConfig(flip_p=1.0, scale_jitter=0.0, shift_jitter=0.0, color_jitter=0.0)
    assert_samples_equal(Augmenter(config)(sample), flip_sample(sample))
