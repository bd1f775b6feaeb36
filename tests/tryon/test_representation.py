import torch

from tryon.config import RepresentationConfig
from tryon.data.labels import FACE, HAIR, LEFT_ARM, PANTS, UPPER_CLOTHES
from tryon.data.synthetic import synthetic_sample
from tryon.representation import (
    REPRESENTATION_CHANNELS,
    label_mask,
    person_representation,
    pose_heatmaps,
    tryon_region,
    worn_garment_mask,
)


def batch(seed=0):
    sample = synthetic_sample((64, 48), seed=seed)
    return sample["person"][None], sample["parse"][None], sample["keypoints"][None]


def test_shape_and_range():
    person, parse, keypoints = batch()
    rep = person_representation(person, parse, keypoints, RepresentationConfig())
    assert rep.shape == (1, REPRESENTATION_CHANNELS, 64, 48)
    assert rep.min() >= -1 and rep.max() <= 1


def test_nothing_of_the_worn_garment_leaks_into_the_representation():
    person, parse, keypoints = batch()
    garment_region = label_mask(parse, (UPPER_CLOTHES,)).bool().expand_as(person)
    assert garment_region.any()
    other = person.clone()
    other[garment_region] = torch.rand(int(garment_region.sum())) * 2 - 1  # another garment's colours
    config = RepresentationConfig()
    assert torch.equal(person_representation(person, parse, keypoints, config),
                       person_representation(other, parse, keypoints, config))  # fmt: skip


def test_head_and_lower_body_are_kept_in_rgb():
    person, parse, keypoints = batch()
    rep = person_representation(person, parse, keypoints, RepresentationConfig())
    for label in (FACE, HAIR, PANTS):
        where = parse[0] == label
        assert torch.equal(rep[0, 1:4][:, where], person[0][:, where])
    arm = parse[0] == LEFT_ARM
    assert torch.all(rep[0, 1:4][:, arm] == 0)


def test_heatmap_peaks_at_its_keypoint_and_missing_points_are_blank():
    keypoints = torch.zeros(1, 18, 3)
    keypoints[0, 1] = torch.tensor([30.0, 10.0, 0.9])
    maps = pose_heatmaps(keypoints, 64, 48, sigma=2.0)
    assert divmod(int(maps[0, 1].argmax()), 48) == (10, 30)
    assert maps[0, 0].abs().sum() == 0


def test_tryon_region_covers_the_old_garment_and_spares_the_head():
    _, parse, _ = batch()
    region = tryon_region(parse, torch.zeros(1, 1, 64, 48), feather=2)
    assert torch.all(region[worn_garment_mask(parse).bool()] == 1)
    assert torch.all(region[label_mask(parse, (FACE, HAIR)).bool()] == 0)
