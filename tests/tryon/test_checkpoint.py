import json

import pytest
import torch

from tryon.checkpoint import CheckpointError, create_random_checkpoint, load_checkpoint, read_config, tiny_config
from tryon.data.synthetic import synthetic_sample


def sample_batch():
    s = synthetic_sample((64, 48), seed=1, garment_seed=2)
    return {k: s[k][None] for k in ("person", "parse", "keypoints", "garment", "garment_mask")}


def test_round_trip_gives_identical_outputs(tmp_path):
    path = create_random_checkpoint(tmp_path / "ckpt", seed=3)
    torch.manual_seed(3)
    from tryon.model import TryOnModel

    original = TryOnModel(tiny_config()).eval()
    loaded = load_checkpoint(path).eval()
    with torch.no_grad():
        a, b = original(**sample_batch()), loaded(**sample_batch())
    assert torch.equal(a["output"], b["output"]) and torch.equal(a["points"], b["points"])
    assert read_config(path) == tiny_config()


def test_checkpoint_files_are_safetensors_and_json_not_pickle(tmp_path):
    path = create_random_checkpoint(tmp_path / "ckpt")
    assert sorted(p.name for p in path.iterdir()) == [
        "MODEL_CARD.md", "config.json", "generator.safetensors", "warper.safetensors",
    ]  # fmt: skip
    for weights in path.glob("*.safetensors"):
        header_length = int.from_bytes(weights.read_bytes()[:8], "little")
        json.loads(weights.read_bytes()[8 : 8 + header_length])  # a safetensors header is plain JSON


def test_missing_directory_file_and_mismatched_weights_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")
    path = create_random_checkpoint(tmp_path / "ckpt")
    (path / "generator.safetensors").unlink()
    with pytest.raises(CheckpointError, match="generator.safetensors: missing file"):
        load_checkpoint(path)
    other = create_random_checkpoint(tmp_path / "other")
    config = json.loads((other / "config.json").read_text())
    config["generator"]["base_channels"] = 16
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(other)
    (other / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="invalid config"):
        load_checkpoint(other)
