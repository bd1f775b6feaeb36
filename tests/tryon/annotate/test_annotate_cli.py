import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tryon.annotate.checkpoint import load_annotator, save_annotator
from tryon.checkpoint import create_random_checkpoint
from tryon.cli import app
from tryon.data.formats import read_keypoints, read_mask_uint8, read_parse_uint8
from tryon.data.synthetic import write_synthetic_dataset

from .annotate_support import TINY_OVERRIDES

runner = CliRunner()
# A 2-step network finds no one with the default thresholds; these let it answer whatever it finds.
ANSWER_ANYTHING = ["parser.min_person_fraction=0", "pose.min_keypoints=0"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data"), num_pairs=3, size=(64, 48))


@pytest.fixture(scope="module")
def checkpoints(data, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    for stage in ("parser", "pose"):
        result = invoke("train", stage, "--data", data, "--out", runs / stage, "--steps", 2, *TINY_OVERRIDES,
                        *ANSWER_ANYTHING)  # fmt: skip
        assert result.exit_code == 0, result.output
    return runs / "parser" / "checkpoint", runs / "pose" / "checkpoint"


@pytest.fixture(scope="module")
def blind_parser(checkpoints, tmp_path_factory):
    """A parser checkpoint that labels everything background, with the default no-person threshold."""
    parser = load_annotator(checkpoints[0], "parser")
    with torch.no_grad():
        parser.net.head.weight.zero_()
        parser.net.head.bias.zero_()
        parser.net.head.bias[0] = 10.0
    parser.config.parser.min_person_fraction = 0.01
    return save_annotator(parser, tmp_path_factory.mktemp("blind") / "parser")


def photos(data, count=2):
    return sorted((data / "val" / "image").iterdir())[:count]


def test_train_parser_and_pose_make_annotator_checkpoints(checkpoints):
    parser, pose = checkpoints
    assert (parser / "parser.safetensors").is_file() and (pose / "pose.safetensors").is_file()
    assert json.loads((parser.parent / "config.json").read_text())["parser"]["channels"] == [8, 16, 16]


def test_annotate_writes_pose_and_parse_in_the_viton_layout(data, checkpoints, tmp_path):
    result = invoke("annotate", *photos(data), "--out", tmp_path, "--parser", checkpoints[0], "--pose", checkpoints[1])
    assert result.exit_code == 0, result.output
    for photo in photos(data):
        keypoints = read_keypoints(tmp_path / "pose" / f"{photo.stem}_keypoints.json")
        assert keypoints.shape == (18, 3)
        parse = read_parse_uint8(tmp_path / "image-parse" / f"{photo.stem}.png", "viton", size=(64, 48))
        assert parse.max() < 20


def test_annotate_garments_writes_cloth_masks(data, tmp_path):
    cloth = sorted((data / "val" / "cloth").iterdir())[:2]
    result = invoke("annotate", *cloth, "--out", tmp_path, "--garments")
    assert result.exit_code == 0, result.output
    for photo in cloth:
        mask = read_mask_uint8(tmp_path / "cloth-mask" / photo.name, size=(64, 48)).bool()
        reference = read_mask_uint8(data / "val" / "cloth-mask" / photo.name).bool()
        assert (mask & reference).sum() / (mask | reference).sum() > 0.9


def bad_photo(tmp_path, kind):
    path = tmp_path / f"{kind}.jpg"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not an image")
    elif kind == "huge":
        from .test_annotate_annotator import png_header_claiming

        path = tmp_path / "huge.png"
        path.write_bytes(png_header_claiming(10000, 8000))
    elif kind == "blank":
        from PIL import Image

        Image.new("RGB", (48, 64), (230, 230, 230)).save(path)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [("empty", "empty file"), ("text", "unreadable image"), ("huge", "image too large"), ("missing", "missing file"),
     ("blank", "no person found")],
)  # fmt: skip
def test_a_bad_photo_is_one_line_exit_2_and_nothing_is_written(data, checkpoints, blind_parser, tmp_path, kind,
                                                               message):  # fmt: skip
    out = tmp_path / "out"
    parser = blind_parser if kind == "blank" else checkpoints[0]
    good = photos(data, 1)[0]
    result = invoke("annotate", good, bad_photo(tmp_path, kind), "--out", out, "--parser", parser,
                    "--pose", checkpoints[1])  # fmt: skip
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_photos_with_the_same_name_are_refused(data, checkpoints, tmp_path):
    copy = tmp_path / "elsewhere" / photos(data, 1)[0].name
    copy.parent.mkdir()
    copy.write_bytes(photos(data, 1)[0].read_bytes())
    result = invoke("annotate", photos(data, 1)[0], copy, "--out", tmp_path / "out", "--parser", checkpoints[0],
                    "--pose", checkpoints[1])  # fmt: skip
    assert result.exit_code == 2 and "overwrite each other" in result.output


def test_annotate_without_checkpoints_says_how_to_get_them(data, tmp_path):
    result = invoke("annotate", *photos(data, 1), "--out", tmp_path, "--parser", tmp_path / "none")
    assert result.exit_code == 2 and "tryon train parser" in result.output


def test_eval_annotators_writes_every_figure(data, checkpoints, tmp_path):
    tryon = create_random_checkpoint(tmp_path / "tryon")
    result = invoke("eval-annotators", "--data", data / "val", "--pairs", data / "val_pairs.txt", "--out",
                    tmp_path / "eval", "--parser", checkpoints[0], "--pose", checkpoints[1],
                    "--checkpoint", tryon)  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["garment_mask"]["count"] == 3 and metrics["garment_mask"]["iou_mean"] > 0.9
    for key in ("miou", "upper_clothes_iou", "arms_iou", "face_iou", "hair_iou"):
        assert 0 <= metrics["parse"][key] <= 1, key
    assert 0 <= metrics["pose"]["pckh@0.5"] <= 1
    assert set(metrics["tryon"]) >= {"ssim_files", "ssim_annotators", "gap", "target_met"}
    assert metrics["persons"] == 3


def test_eval_annotators_refuses_unknown_parts(data, tmp_path):
    result = invoke("eval-annotators", "--data", data / "val", "--pairs", data / "val_pairs.txt", "--out", tmp_path,
                    "--parts", "garment,hands")  # fmt: skip
    assert result.exit_code == 2 and "unknown part(s) hands" in result.output


def test_garment_figures_need_no_checkpoint(data, tmp_path):
    result = invoke("eval-annotators", "--data", data / "val", "--pairs", data / "val_pairs.txt", "--out", tmp_path,
                    "--parts", "garment")  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) >= {"garment_mask"} and "parse" not in metrics
    assert np.isfinite(metrics["garment_mask"]["iou_mean"])
