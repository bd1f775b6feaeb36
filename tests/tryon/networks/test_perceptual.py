import pytest
import torch

from tryon.networks.perceptual import EfficientNetFeatures, PerceptualLoss, load_efficientnet_lite0


@pytest.fixture(scope="module")
def loss() -> PerceptualLoss:
    return PerceptualLoss()


def _images(seed: int, height: int = 64, width: int = 48, batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, height, width, generator=generator) * 2 - 1


def test_packaged_weights_load_strictly_and_classify_to_finite_logits():
    model = load_efficientnet_lite0()
    with torch.no_grad():
        logits = model(_images(0, 96, 96))
    assert logits.shape == (2, 1000)
    assert torch.isfinite(logits).all()
    # An untrained net's logits would be near-uniform; pretrained ones are spread out.
    assert logits.std() > 0.5


@pytest.mark.parametrize(("height", "width"), [(64, 48), (37, 53)])
def test_feature_shapes_follow_strides(loss, height, width):
    features = loss.features(_images(1, height, width))
    assert loss.features.strides == (2, 4, 8, 16)
    assert [tuple(f.shape) for f in features] == [
        (2, channels, -(-height // stride), -(-width // stride))
        for channels, stride in zip((16, 24, 40, 112), (2, 4, 8, 16), strict=True)
    ]


def test_features_differ_for_different_inputs(loss):
    with torch.no_grad():
        first, second = loss.features(_images(2)), loss.features(_images(3))
    for a, b in zip(first, second, strict=True):
        assert not torch.allclose(a, b)


def test_loss_is_zero_for_identical_and_positive_for_different_images(loss):
    images = _images(4)
    with torch.no_grad():
        assert loss(images, images.clone()).item() == 0.0
        assert loss(images, _images(5)).item() > 0.1


def test_gradients_reach_fake_only(loss):
    fake = _images(6).requires_grad_(True)
    real = _images(7).requires_grad_(True)
    loss(fake, real).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None
    assert not any(p.requires_grad for p in loss.parameters())
    assert all(p.grad is None for p in loss.parameters())


def test_stays_in_eval_mode_after_train(loss):
    loss.train()
    assert not any(module.training for module in loss.features.modules())
    loss.features.train(True)
    assert not loss.features.training


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="strides"):
        EfficientNetFeatures(strides=(3,))
    with pytest.raises(ValueError, match="one weight per level"):
        PerceptualLoss(strides=(2, 4), weights=(1.0,))
