"""File readers: the internal conventions, and an error naming the file for every kind of bad data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tryon.data.formats import (
    DataError,
    keypoints_from_json_obj,
    read_image,
    read_keypoints,
    read_mask,
    read_parse,
)
from tryon.data.labels import FACE, JUMPSUITS, LEFT_ARM, NUM_BODY25_KEYPOINTS, UPPER_CLOTHES


def write_jpeg(path: Path, height: int = 32, width: int = 24) -> np.ndarray:
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 2] = (255, 0, 0)
    Image.fromarray(array).save(path, quality=95)
    return array


def write_pose(path: Path, people: list[dict]) -> Path:
    path.write_text(json.dumps({"version": 1.3, "people": people}))
    return path


def body25_person(**points: tuple[float, float, float]) -> list[float]:
    """75 numbers; ``points`` maps "i<index>" to (x, y, c); the rest present at (1, 1, 0.5)."""
    values = np.tile([1.0, 1.0, 0.5], (NUM_BODY25_KEYPOINTS, 1))
    for key, point in points.items():
        values[int(key[1:])] = point
    return values.reshape(-1).tolist()


# --- images and masks ---------------------------------------------------------------------------------


def test_read_image_is_float_chw_in_unit_range(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "a.jpg")
    image = read_image(tmp_path / "a.jpg", size=(32, 24))
    assert image.shape == (3, 32, 24) and image.dtype == torch.float32
    assert image.min() >= -1 and image.max() <= 1
    assert image[0, 16, 2] > 0.9 and image[2, 16, 2] < -0.9  # red stays red: channel order is RGB
    assert image[0, 16, 20] < -0.9


def test_missing_image_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jpg: missing file") as caught:
        read_image(tmp_path / "nope.jpg")
    assert isinstance(caught.value, ValueError) and caught.value.path.endswith("nope.jpg")


def test_garbage_bytes_are_an_unreadable_image(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"this is not a jpeg at all" * 10)
    with pytest.raises(DataError, match=r"bad\.jpg: unreadable image"):
        read_image(tmp_path / "bad.jpg")


def test_truncated_jpeg_is_an_unreadable_image(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "full.jpg", 64, 48)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="unreadable image"):
        read_image(tmp_path / "cut.jpg")


def test_wrong_image_size_says_expected_and_found(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "a.jpg", 32, 24)
    with pytest.raises(DataError, match=r"a\.jpg: wrong size: expected 64x48, got 32x24"):
        read_image(tmp_path / "a.jpg", size=(64, 48))


def test_mask_is_thresholded_at_128(tmp_path: Path) -> None:
    values = np.array([[0, 100, 127, 128, 200, 255]], np.uint8).repeat(4, axis=0)
    Image.fromarray(values).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.shape == (1, 4, 6)
    assert mask[0, 0].tolist() == [0, 0, 0, 1, 1, 1]


def test_jpeg_mask_with_compression_noise_reads_as_the_binary_mask(tmp_path: Path) -> None:
    binary = np.zeros((32, 24), np.uint8)
    binary[8:24, 6:18] = 255
    Image.fromarray(binary).save(tmp_path / "m.jpg", quality=75)
    mask = read_mask(tmp_path / "m.jpg")
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(mask[0], torch.from_numpy(binary > 0).float())


def test_mask_of_zeros_and_ones_is_taken_as_is(tmp_path: Path) -> None:
    Image.fromarray(np.eye(4, dtype=np.uint8)).save(tmp_path / "m.png")
    assert torch.equal(read_mask(tmp_path / "m.png")[0], torch.eye(4))


# --- parse maps ---------------------------------------------------------------------------------------


def save_palette_png(labels: np.ndarray, path: Path, palette_seed: int = 1) -> None:
    image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.astype(np.uint8).tobytes())
    image.putpalette(np.random.default_rng(palette_seed).integers(0, 256, 768).tolist())
    image.save(path)


def test_palette_parse_is_read_by_index_not_colour(tmp_path: Path) -> None:
    labels = np.array([[0, 5, 13], [14, 15, 19]])
    save_palette_png(labels, tmp_path / "p.png")
    parse = read_parse(tmp_path / "p.png", "viton")
    assert parse.dtype == torch.int64 and parse.shape == (2, 3)
    assert parse.tolist() == labels.tolist()


def test_viton_hd_torso_skin_becomes_face_and_viton_keeps_label_10(tmp_path: Path) -> None:
    labels = np.array([[10, 5], [13, LEFT_ARM]])
    save_palette_png(labels, tmp_path / "p.png")
    assert read_parse(tmp_path / "p.png", "viton-hd").tolist() == [[FACE, UPPER_CLOTHES], [FACE, LEFT_ARM]]
    assert read_parse(tmp_path / "p.png", "viton")[0, 0] == JUMPSUITS


def test_parse_labels_out_of_range_name_the_maximum(tmp_path: Path) -> None:
    save_palette_png(np.array([[0, 25], [3, 4]]), tmp_path / "p.png")
    with pytest.raises(DataError, match=r"p\.png: labels out of range \(max 25"):
        read_parse(tmp_path / "p.png", "viton")


def test_colour_parse_is_rejected(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4), (5, 5, 5)).save(tmp_path / "p.png")
    with pytest.raises(DataError, match="mode RGB"):
        read_parse(tmp_path / "p.png", "viton")


def test_parse_wrong_size(tmp_path: Path) -> None:
    save_palette_png(np.zeros((4, 3)), tmp_path / "p.png")
    with pytest.raises(DataError, match="wrong size: expected 4x4, got 4x3"):
        read_parse(tmp_path / "p.png", "viton", size=(4, 4))


def test_parse_unknown_layout_is_a_value_error(tmp_path: Path) -> None:
    save_palette_png(np.zeros((4, 3)), tmp_path / "p.png")
    with pytest.raises(ValueError, match="unknown layout"):
        read_parse(tmp_path / "p.png", "deepfashion")


# --- keypoints ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["pose_keypoints", "pose_keypoints_2d"])
def test_coco18_keypoints_are_read_in_order(tmp_path: Path, key: str) -> None:
    values = [[float(i), float(10 * i), 0.9] for i in range(18)]
    path = write_pose(tmp_path / "p.json", [{key: sum(values, [])}])
    points = read_keypoints(path)
    assert points.shape == (18, 3) and points.dtype == torch.float32
    assert points[8].tolist() == pytest.approx([8.0, 80.0, 0.9])


@pytest.mark.parametrize("key", ["pose_keypoints_2d", "pose_keypoints"])
def test_body25_is_never_read_as_coco18(tmp_path: Path, key: str) -> None:
    # BODY_25: 8 mid-hip, 9 r-hip, 10 r-knee, 12 l-hip, 13 l-knee. Read as COCO-18, the hips would be
    # mid-hip and the right knee.
    person = body25_person(
        i8=(50, 100, 0.9), i9=(40, 100, 0.9), i10=(40, 150, 0.9), i11=(40, 190, 0.9),
        i12=(60, 100, 0.9), i13=(60, 150, 0.9), i14=(60, 190, 0.9),
    )  # fmt: skip
    points = read_keypoints(write_pose(tmp_path / "p.json", [{key: person}]))
    assert points[8, :2].tolist() == [40, 100] and points[11, :2].tolist() == [60, 100]  # r-hip, l-hip
    assert points[9, 1] == 150 and points[12, 1] == 150  # knees
    assert points[10, 1] == 190 and points[13, 1] == 190  # ankles


def test_body25_eyes_and_ears_move_down_one_index(tmp_path: Path) -> None:
    person = body25_person(i15=(1, 15, 0.9), i16=(1, 16, 0.9), i17=(1, 17, 0.9), i18=(1, 18, 0.9))
    points = read_keypoints(write_pose(tmp_path / "p.json", [{"pose_keypoints_2d": person}]))
    assert points[14:, 1].tolist() == [15, 16, 17, 18]


def test_zero_confidence_points_become_all_zero(tmp_path: Path) -> None:
    values = sum([[5.0, 6.0, 0.8]] * 18, [])
    values[3 * 4 : 3 * 4 + 3] = [123.0, 45.0, 0.0]  # r-wrist undetected but with stale coordinates
    points = read_keypoints(write_pose(tmp_path / "p.json", [{"pose_keypoints": values}]))
    assert points[4].tolist() == [0, 0, 0]
    assert points[3].tolist() == pytest.approx([5, 6, 0.8])


def test_of_several_people_the_most_confident_is_kept() -> None:
    faint = {"pose_keypoints": [1.0, 1.0, 0.1] * 18}
    clear = {"pose_keypoints": [2.0, 2.0, 0.9] * 18}
    points = keypoints_from_json_obj({"people": [faint, clear, faint]}, "request.pose")
    assert points[0, 0] == 2.0


def test_unknown_keypoint_length_names_key_and_count(tmp_path: Path) -> None:
    path = write_pose(tmp_path / "p.json", [{"pose_keypoints_2d": [1.0] * 51}])
    with pytest.raises(DataError, match=r"p\.json: unknown keypoint format: 'pose_keypoints_2d' has 51 numbers"):
        read_keypoints(path)


def test_no_known_keypoint_key_names_what_was_found(tmp_path: Path) -> None:
    path = write_pose(tmp_path / "p.json", [{"face_keypoints_2d": [1.0] * 54}])
    with pytest.raises(DataError, match=r"unknown keypoint format.*face_keypoints_2d"):
        read_keypoints(path)


def test_non_numeric_keypoints_are_rejected() -> None:
    with pytest.raises(DataError, match="not a list of numbers"):
        keypoints_from_json_obj({"people": [{"pose_keypoints": ["1"] * 54}]}, "req")


def test_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"people": [')
    with pytest.raises(DataError, match=r"p\.json: invalid JSON"):
        read_keypoints(tmp_path / "p.json")


def test_no_person_in_pose_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"p\.json: no person in pose file"):
        read_keypoints(write_pose(tmp_path / "p.json", []))


def test_pose_json_without_people_list() -> None:
    with pytest.raises(DataError, match="upload.json: no 'people' list"):
        keypoints_from_json_obj([1, 2, 3], "upload.json")


def test_missing_pose_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing file"):
        read_keypoints(tmp_path / "p.json")
