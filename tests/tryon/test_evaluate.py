import json
import math

import pytest
from PIL import Image

from tryon.checkpoint import create_random_checkpoint
from tryon.data.synthetic import write_synthetic_dataset
from tryon.evaluate import _output_names, evaluate
from tryon.pipeline import TryOnPipeline


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    pipeline = TryOnPipeline.from_checkpoint(create_random_checkpoint(root / "ckpt", height=64, width=48))
    data = write_synthetic_dataset(root / "data", layout="viton", num_pairs=4, size=(64, 48), splits=("val",))
    return pipeline, data


def _finite_numbers(value):
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    return not isinstance(value, float) or math.isfinite(value)


def test_paired_evaluation_writes_images_grid_and_metrics(setup, tmp_path):
    pipeline, data = setup
    out = tmp_path / "out"
    report = evaluate(pipeline, data / "val", data / "val_pairs.txt", out, batch_size=3, compute_fid=True)

    assert json.loads((out / "metrics.json").read_text()) == report
    assert report["pairs_file"] == "val_pairs.txt" and report["mode"] == "paired" and report["count"] == 4
    assert report["config"]["data"]["height"] == 64 and report["checkpoint"].endswith("ckpt")
    for result in ("model", "baseline"):
        section = report[result]
        assert set(section) == {"ssim", "psnr", "l1", "fid", "kid"}
        assert -1 <= section["ssim"] <= 1 and section["psnr"] > 0 and 0 <= section["l1"] <= 1
        assert section["fid"] >= 0 and set(section["kid"]) == {"mean", "std"}
        assert _finite_numbers(section)
    assert 0 <= report["warp_mask_iou"]["mean"] <= 1 and report["warp_mask_iou"]["meaningful"] is True
    assert report["fid_samples"] == {"real": 4, "generated": 4} and "fid_note" in report

    stems = [f"{i:06d}_0" for i in range(4)]
    assert sorted(p.name for p in out.glob("*.png")) == sorted([f"{s}.png" for s in stems] + ["grid.png"])
    assert sorted(p.name for p in (out / "baseline").glob("*.png")) == [f"{s}.png" for s in stems]
    assert Image.open(out / f"{stems[0]}.png").size == (48, 64)
    # Four rows (person, garment, baseline, model) of four 48x64 cells.
    assert Image.open(out / "grid.png").size == (4 * 48, 4 * 64)


def test_unpaired_evaluation_reports_no_paired_metrics(setup, tmp_path):
    pipeline, data = setup
    report = evaluate(pipeline, data / "val", data / "val_pairs_unpaired.txt", tmp_path, compute_fid=False)
    assert report["mode"] == "unpaired" and report["count"] == 4
    assert report["model"] == {} and report["baseline"] == {}
    assert report["warp_mask_iou"]["meaningful"] is False
    assert "fid_samples" not in report
    assert len(list((tmp_path / "baseline").glob("*.png"))) == 4


def test_output_names_disambiguate_repeated_persons():
    pairs = [("a.jpg", "x.jpg"), ("b.jpg", "y.jpg"), ("a.jpg", "z.jpg")]
    assert _output_names(pairs) == ["a_x.png", "b.png", "a_z.png"]
