import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tryon.cli import app
from tryon.data.synthetic import write_synthetic_dataset

runner = CliRunner()
TINY = [
    "data.height=64", "data.width=48", "warper.channels=8,16,16,16", "warper.regressor_channels=16",
    "generator.depth=4", "generator.base_channels=8", "generator.max_channels=32", "generator.disc_channels=8",
    "optim.batch_size=2", "optim.log_every=1", "optim.sample_every=2", "generator.weight_perceptual=0.1",
]  # fmt: skip


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data"), num_pairs=4, size=(64, 48))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = invoke("train", "warper", "--data", data, "--out", runs / "w", "--steps", 2, *TINY)
    assert result.exit_code == 0, result.output
    warper = runs / "w" / "checkpoint"
    result = invoke("train", "generator", "--data", data, "--out", runs / "g", "--warper", warper, "--steps", 2, *TINY)
    assert result.exit_code == 0, result.output
    return runs / "g" / "checkpoint"


def test_train_both_stages_end_to_end(trained):
    assert (trained / "generator.safetensors").exists() and (trained / "train_state.json").exists()
    assert json.loads((trained / "config.json").read_text())["data"]["height"] == 64


def test_eval_renders_every_pair_and_writes_metrics(data, trained, tmp_path):
    result = invoke("eval", "--data", data / "val", "--pairs", data / "val_pairs.txt", "--out", tmp_path,
                    "--checkpoint", trained, "--no-fid")  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["count"] == 4
    assert len(list(tmp_path.glob("*.png"))) >= 4


def test_render_writes_an_image_at_the_size_asked_for(data, trained, tmp_path):
    split = data / "val"
    person = sorted((split / "image").iterdir())[0]
    stem = person.stem
    garment = sorted((split / "cloth").iterdir())[1]
    out = tmp_path / "out.png"
    result = invoke("render", "--person", person, "--pose", split / "pose" / f"{stem}_keypoints.json",
                    "--parse", split / "image-parse" / f"{stem}.png", "--garment", garment,
                    "--garment-mask", split / "cloth-mask" / garment.name, "--out", out,
                    "--size", "128x96", "--checkpoint", trained)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (96, 128)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope", "--data", "{data}", "--out", "{tmp}/r"], "unknown stage"),
        (["train", "warper", "--data", "{tmp}/nowhere", "--out", "{tmp}/r"], "missing"),
        (["train", "generator", "--data", "{data}", "--out", "{tmp}/r"], "--warper"),
        (["train", "warper", "--data", "{data}", "--out", "{tmp}/r", "optim.nope=1"], "unknown config key"),
        (["eval", "--data", "{data}/val", "--pairs", "{data}/val_pairs.txt", "--out", "{tmp}/e",
          "--checkpoint", "{tmp}/none"], "checkpoint directory not found"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_one_line_error_and_exit_code_2(data, tmp_path, args, message):
    result = invoke(*[a.format(data=data, tmp=tmp_path) for a in args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_render_rejects_an_unreadable_photo_and_a_bad_size(data, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    split = data / "val"
    stem = sorted((split / "image").iterdir())[0].stem
    common = ["--pose", split / "pose" / f"{stem}_keypoints.json", "--parse", split / "image-parse" / f"{stem}.png",
              "--out", tmp_path / "o.png"]  # fmt: skip
    result = invoke("render", "--person", bad, "--garment", bad, *common)
    assert result.exit_code == 2 and "unreadable image" in result.output
    photo = split / "image" / f"{stem}.jpg"
    result = invoke("render", "--person", photo, "--garment", photo, "--size", "big", *common)
    assert result.exit_code == 2 and "HxW" in result.output
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "parse.png")
    result = invoke("render", "--person", photo, "--garment", photo, *common[:2], "--parse", tmp_path / "parse.png",
                    "--out", tmp_path / "o.png")  # fmt: skip
    assert result.exit_code == 2 and "parse" in result.output


def test_example_inputs_are_a_readable_dataset(tmp_path):
    result = invoke("example-inputs", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    from tryon.data.dataset import TryOnDataset

    dataset = TryOnDataset(tmp_path / "val", tmp_path / "val_pairs.txt", size=(256, 192), check=True)
    assert len(dataset) == 2 and dataset[0]["person"].shape == (3, 256, 192)


def _tiny_annotators(root, min_person_fraction: float):
    """Random tiny parser and pose checkpoints; their person check passes (0) or never does (> 1)."""
    from tryon.annotate.checkpoint import build_network, save_annotator

    from .annotate.annotate_support import tiny_annotator_config

    config = tiny_annotator_config()
    config.parser.min_person_fraction, config.pose.min_keypoints = min_person_fraction, 0
    return {kind: save_annotator(build_network(kind, config), root / kind) for kind in ("parser", "pose")}


@pytest.mark.parametrize(("min_person_fraction", "exit_code"), [(0.0, 0), (1.5, 2)])
def test_render_annotates_a_raw_photo_when_pose_parse_and_mask_are_left_out(
    data, trained, tmp_path, monkeypatch, min_person_fraction, exit_code
):
    import tryon.annotate.checkpoint as annotator_checkpoints

    checkpoints = _tiny_annotators(tmp_path, min_person_fraction)
    monkeypatch.setattr(annotator_checkpoints, "DEFAULT_CHECKPOINTS", checkpoints)
    split = data / "val"
    person, garment = sorted((split / "image").iterdir())[0], sorted((split / "cloth").iterdir())[1]
    out = tmp_path / "out.png"
    result = invoke("render", "--person", person, "--garment", garment, "--out", out, "--checkpoint", trained)
    assert result.exit_code == exit_code, result.output
    if exit_code == 0:
        assert Image.open(out).size == Image.open(person).size
    else:
        assert result.output.strip().count("\n") == 0 and "no person found" in result.output and not out.exists()
