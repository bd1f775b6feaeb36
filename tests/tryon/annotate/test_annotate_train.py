import csv
import json
import signal

import pytest
import torch

from tryon.annotate.checkpoint import build_network, load_annotator, save_annotator
from tryon.annotate.train import AnnotatorTrainer, train_annotator
from tryon.checkpoint import CheckpointError
from tryon.data.synthetic import write_synthetic_dataset
from tryon.loop import load_training_data

from .annotate_support import fixed_batch, tiny_annotator_config


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data"), num_pairs=4, size=(64, 48))


def small_run_config(steps: int):
    config = tiny_annotator_config()
    config.optim.steps, config.optim.log_every, config.optim.sample_every = steps, 1, 2
    config.optim.checkpoint_every = 100
    return config


def log_steps(run) -> list[int]:
    with open(run / "log.csv", newline="") as file:
        return [int(row["step"]) for row in csv.DictReader(file)]


@pytest.mark.parametrize("stage", ["parser", "pose"])
def test_a_run_writes_config_log_samples_and_a_checkpoint(data, tmp_path, stage):
    checkpoint = train_annotator(stage, data, tmp_path, small_run_config(2), device="cpu")
    assert checkpoint == tmp_path / "checkpoint"
    for name in ("config.json", f"{stage}.safetensors", "MODEL_CARD.md", "train_state.json", "optimizers.safetensors"):
        assert (checkpoint / name).is_file(), name
    assert json.loads((tmp_path / "config.json").read_text())["data"]["height"] == 64
    assert log_steps(tmp_path) == [1, 2]
    assert (tmp_path / "samples" / "step_000002.png").is_file()
    card = (checkpoint / "MODEL_CARD.md").read_text()
    assert f"tryon {stage} annotator" in card and "Research/demo weights" in card and "Steps: 2" in card


def test_a_run_resumes_where_its_checkpoint_left_off(data, tmp_path):
    train_annotator("pose", data, tmp_path, small_run_config(2), device="cpu")
    trainer = AnnotatorTrainer("pose", small_run_config(4), tmp_path, torch.device("cpu"))
    assert trainer.resume() and trainer.state.step == 2
    saved = load_annotator(tmp_path / "checkpoint", "pose").state_dict()
    assert all(torch.equal(saved[k], v) for k, v in trainer.network.state_dict().items())
    train_annotator("pose", data, tmp_path, small_run_config(4), device="cpu")
    assert log_steps(tmp_path) == [1, 2, 3, 4]
    assert json.loads((tmp_path / "checkpoint" / "train_state.json").read_text())["step"] == 4


def test_the_learning_rate_drops_at_lr_drop_step_and_stays_dropped_after_a_resume(data, tmp_path):
    config = small_run_config(3)
    config.optim.lr, config.optim.lr_drop_step, config.optim.lr_drop_factor = 1e-3, 2, 0.1
    trainer = AnnotatorTrainer("parser", config, tmp_path, torch.device("cpu"))
    trainer.fit(load_training_data(data, config))
    assert trainer.optimizers["parser"].param_groups[0]["lr"] == pytest.approx(1e-4)
    resumed = AnnotatorTrainer("parser", config, tmp_path, torch.device("cpu"))
    assert resumed.resume() and resumed.state.step == 3
    group = resumed.optimizers["parser"].param_groups[0]
    assert resumed.learning_rate(group) == pytest.approx(1e-4)
    resumed.state.step = 1  # before the drop: the configured rate
    assert resumed.learning_rate(group) == pytest.approx(1e-3)


def test_a_run_directory_of_another_stage_is_refused(data, tmp_path):
    train_annotator("parser", data, tmp_path, small_run_config(1), device="cpu")
    with pytest.raises(ValueError, match="holds a parser run, not pose"):
        train_annotator("pose", data, tmp_path, small_run_config(1), device="cpu")


def test_unknown_stages_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown stage 'warper'"):
        AnnotatorTrainer("warper", tiny_annotator_config(), tmp_path, torch.device("cpu"))


def test_negatives_are_garment_shots_without_person_or_keypoints(tmp_path):
    config = tiny_annotator_config()
    config.parser.negative_p = 1.0
    batch = fixed_batch()
    swapped = AnnotatorTrainer("parser", config, tmp_path, torch.device("cpu")).with_negatives(batch)
    assert torch.equal(swapped["person"], batch["garment"])
    assert (swapped["parse"] == 0).all() and (swapped["keypoints"] == 0).all()
    config.parser.negative_p = 0.0
    untouched = AnnotatorTrainer("parser", config, tmp_path, torch.device("cpu")).with_negatives(batch)
    assert torch.equal(untouched["person"], batch["person"])


@pytest.mark.parametrize("kind", ["parser", "pose"])
def test_checkpoints_round_trip(tmp_path, kind):
    torch.manual_seed(0)
    network = build_network(kind, tiny_annotator_config()).eval()
    save_annotator(network, tmp_path / kind, card="# card\n")
    loaded = load_annotator(tmp_path / kind, kind)
    photo = torch.rand(1, 3, 64, 48) * 2 - 1
    with torch.no_grad():
        assert torch.equal(network(photo), loaded(photo))
    assert loaded.config.data.height == 64 and not loaded.training


def test_loading_a_missing_or_wrong_checkpoint_says_what_is_wrong(tmp_path):
    with pytest.raises(CheckpointError, match="train one: tryon train parser"):
        load_annotator(tmp_path / "nowhere", "parser")
    save_annotator(build_network("pose", tiny_annotator_config()), tmp_path / "pose")
    with pytest.raises(CheckpointError, match="is .* a parser checkpoint"):
        load_annotator(tmp_path / "pose", "parser")
    config = tiny_annotator_config()
    config.pose.channels = (8, 16, 32, 32)
    save_annotator(build_network("pose", config), tmp_path / "other")
    (tmp_path / "pose" / "config.json").write_text((tmp_path / "other" / "config.json").read_text())
    with pytest.raises(CheckpointError, match="do not match config.json"):
        load_annotator(tmp_path / "pose", "pose")


def test_ctrl_c_saves_a_checkpoint_and_stops(data, tmp_path):
    config = small_run_config(50)
    trainer = AnnotatorTrainer("parser", config, tmp_path, torch.device("cpu"))
    step = trainer.train_step

    def step_then_interrupt(batch):
        losses = step(batch)
        if trainer.state.step == 1:  # the second step: the counter moves on after this returns
            signal.raise_signal(signal.SIGINT)
        return losses

    trainer.train_step = step_then_interrupt
    checkpoint = trainer.fit(load_training_data(data, config))
    assert trainer.state.step == 2
    assert json.loads((checkpoint / "train_state.json").read_text())["step"] == 2
