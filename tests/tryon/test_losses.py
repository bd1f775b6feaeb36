import pytest
import torch

from tryon.losses import adversarial_loss, composition_loss, feature_matching_loss, warper_losses
from tryon.networks.tps import control_grid


def scores(value, scales=2):
    return [[torch.randn(1, 4, 8, 6), torch.full((1, 1, 4, 3), value)] for _ in range(scales)]


def test_lsgan_is_zero_on_target_and_one_off_target():
    assert adversarial_loss(scores(1.0), True, "lsgan", True) == 0
    assert adversarial_loss(scores(0.0), False, "lsgan", True) == 0
    assert adversarial_loss(scores(0.0), True, "lsgan", False) == pytest.approx(1.0)


def test_hinge_for_discriminator_and_generator():
    assert adversarial_loss(scores(2.0), True, "hinge", True) == 0  # beyond the margin
    assert adversarial_loss(scores(0.0), False, "hinge", True) == pytest.approx(1.0)
    assert adversarial_loss(scores(0.5), True, "hinge", False) == pytest.approx(-0.5)


def test_unknown_gan_mode_is_refused():
    with pytest.raises(ValueError, match="gan_mode"):
        adversarial_loss(scores(0.0), True, "wgan", True)


def test_feature_matching_is_zero_for_equal_features_and_ignores_the_scores():
    real = scores(1.0)
    fake = [[f.clone() for f in features[:-1]] + [features[-1] + 5] for features in real]
    assert feature_matching_loss(fake, real) == 0
    fake[0][0] = fake[0][0] + 1
    assert feature_matching_loss(fake, real) > 0


def test_warper_losses_are_a_dict_with_a_weighted_total():
    image, mask = torch.rand(2, 3, 16, 12), (torch.rand(2, 1, 16, 12) > 0.5).float()
    points = control_grid(5, batch=2)
    losses = warper_losses(image, mask, image * mask, mask, points, 5, mask_weight=1.0, smoothness_weight=0.1)
    assert set(losses) == {"l1", "mask", "smooth", "total"}
    assert losses["l1"] == 0 and losses["mask"] == 0 and losses["smooth"] < 1e-10
    assert losses["total"] == pytest.approx(float(losses["l1"] + losses["mask"] + 0.1 * losses["smooth"]))


def test_composition_loss_targets_the_warped_garment_on_the_real_garment():
    warped, target = torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    target[..., :2, :] = 1
    assert composition_loss(warped * target, warped, target) == 0
    assert composition_loss(warped, warped, target) == pytest.approx(0.5)
