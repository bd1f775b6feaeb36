import pytest
import torch

from tryon.annotate.checkpoint import build_network
from tryon.annotate.parser import colourise, parser_losses, soft_dice_loss
from tryon.annotate.pose import decode_heatmaps, heatmap_targets, pose_loss
from tryon.annotate.train import AnnotatorTrainer
from tryon.annotate.unet import EncoderDecoder

from .annotate_support import fixed_batch, tiny_annotator_config


def test_parser_gives_label_logits_at_the_working_size():
    parser = build_network("parser", tiny_annotator_config())
    assert parser(torch.zeros(2, 3, 64, 48)).shape == (2, 20, 64, 48)


def test_pose_gives_one_heatmap_per_keypoint_at_a_quarter_size():
    pose = build_network("pose", tiny_annotator_config())
    assert pose(torch.zeros(2, 3, 64, 48)).shape == (2, 18, 16, 12)


def test_inputs_must_divide_by_the_network_depth():
    parser = build_network("parser", tiny_annotator_config())
    with pytest.raises(ValueError, match="divisible by 4"):
        parser(torch.zeros(1, 3, 62, 48))


@pytest.mark.parametrize("stride", [3, 8, 0])
def test_output_stride_must_be_a_power_of_two_within_the_depth(stride):
    with pytest.raises(ValueError, match="output stride"):
        EncoderDecoder(3, (8, 16, 16, 16), 18, output_stride=stride)


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_heatmaps_decode_back_to_their_keypoints(stride):
    points = torch.tensor([[[10.3, 20.7, 1.0], [30.2, 40.9, 0.7], [0.0, 0.0, 0.0], [21.0, 33.4, 1.0]]])
    size = (64 // stride, 48 // stride)
    decoded = decode_heatmaps(heatmap_targets(points, size, stride, sigma=1.5), stride, threshold=0.2)
    present = points[0, :, 2] > 0
    assert torch.allclose(decoded[0, present, :2], points[0, present, :2], atol=0.02)
    assert (decoded[0, present, 2] > 0.9).all()
    assert decoded[0, 2].tolist() == [0.0, 0.0, 0.0]  # missing stays missing


def test_weak_peaks_are_reported_missing():
    heatmaps = torch.zeros(1, 18, 16, 12)
    heatmaps[0, 0, 5, 5] = 0.15
    heatmaps[0, 1, 8, 4] = 0.6
    decoded = decode_heatmaps(heatmaps, 4, threshold=0.2)
    assert decoded[0, 0].tolist() == [0.0, 0.0, 0.0]
    assert decoded[0, 1, 2] == pytest.approx(0.6) and decoded[0, 1, :2].tolist() == [4 * 4 + 1.5, 8 * 4 + 1.5]
    assert (decoded[0, 2:] == 0).all()


def test_losses_vanish_for_perfect_predictions():
    parse = fixed_batch()["parse"]
    perfect = torch.nn.functional.one_hot(parse, 20).permute(0, 3, 1, 2).float() * 50
    assert soft_dice_loss(perfect, parse) < 0.01
    losses = parser_losses(perfect, parse, dice_weight=0.5)
    assert losses["total"] < 0.01 and losses["accuracy"] == 1
    targets = heatmap_targets(fixed_batch()["keypoints"], (16, 12), 4, 1.5)
    assert pose_loss(targets, targets)["total"] == 0


def test_colourised_parse_is_an_image():
    image = colourise(fixed_batch()["parse"])
    assert image.shape == (2, 3, 64, 48) and image.min() >= -1 and image.max() <= 1


def overfit(stage: str, steps: int, tmp_path):
    """A tiny network trained on three fixed photos: its trainer, the photos and the first and last loss."""
    config = tiny_annotator_config()
    config.optim.lr, config.optim.beta1 = 3e-3, 0.9
    getattr(config, stage).negative_p = 0.0
    trainer = AnnotatorTrainer(stage, config, tmp_path, torch.device("cpu"))
    batch = fixed_batch(3)
    losses = [float(trainer.train_step(batch)["total"].detach()) for _ in range(steps)]
    trainer.network.eval()
    return trainer, batch, losses


def test_a_tiny_parser_overfits_a_few_photos(tmp_path):
    trainer, batch, losses = overfit("parser", 120, tmp_path)
    assert losses[-1] < losses[0] / 4
    with torch.no_grad():
        predicted = trainer.network(batch["person"]).argmax(1)
    assert (predicted == batch["parse"]).float().mean() > 0.9


def test_a_tiny_pose_network_overfits_a_few_photos(tmp_path):
    trainer, batch, losses = overfit("pose", 200, tmp_path)
    assert losses[-1] < losses[0] / 4
    with torch.no_grad():
        decoded = decode_heatmaps(trainer.network(batch["person"]), 4, 0.2)
    reference = batch["keypoints"]
    present = reference[..., 2] > 0
    found = decoded[..., 2] > 0
    assert (found[present]).float().mean() > 0.8
    error = (decoded[..., :2] - reference[..., :2]).norm(dim=-1)[present & found]
    assert error.median() < 3.0  # pixels, in a 64x48 photo
