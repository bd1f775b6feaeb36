import pytest
import torch

from tryon.checkpoint import tiny_config
from tryon.model import TryOnModel
from tryon.networks.discriminator import MultiScaleDiscriminator
from tryon.networks.generator import UNetGenerator
from tryon.networks.tps import control_grid
from tryon.networks.warper import Warper, correlation
from tryon.representation import REPRESENTATION_CHANNELS


def inputs(batch=2, h=64, w=48):
    g = torch.Generator().manual_seed(0)
    return {
        "person": torch.rand(batch, 3, h, w, generator=g) * 2 - 1,
        "parse": torch.randint(0, 20, (batch, h, w), generator=g),
        "keypoints": torch.rand(batch, 18, 3, generator=g) * torch.tensor([w, h, 1.0]),
        "garment": torch.rand(batch, 3, h, w, generator=g) * 2 - 1,
        "garment_mask": (torch.rand(batch, 1, h, w, generator=g) > 0.3).float(),
    }


@pytest.mark.parametrize("size", [(64, 48), (128, 64)])
def test_model_output_shapes_and_ranges(size):
    config = tiny_config(*size)
    out = TryOnModel(config)(**inputs(2, *size))
    h, w = size
    assert out["points"].shape == (2, config.warper.grid_size**2, 2)
    assert out["warped_garment"].shape == (2, 3, h, w) and out["warped_mask"].shape == (2, 1, h, w)
    assert out["output"].shape == (2, 3, h, w) and out["output"].dtype == torch.float32
    assert out["composition"].min() >= 0 and out["composition"].max() <= 1
    assert out["output"].abs().max() <= 1.0 + 1e-5


def test_untrained_warper_is_the_identity_warp():
    config = tiny_config()
    warper = Warper(config.warper, REPRESENTATION_CHANNELS, 64, 48)
    batch = inputs()
    rep = torch.randn(2, REPRESENTATION_CHANNELS, 64, 48)
    points = warper(rep, batch["garment"], batch["garment_mask"])
    warped, mask = warper.warp_garment(points, batch["garment"], batch["garment_mask"])
    # Within a tenth of a pixel of the identity grid (1 pixel = 2/48 in normalised units).
    assert (points - control_grid(5)).abs().max() < 2 / 48 / 10
    assert warped.shape == batch["garment"].shape and mask.shape == batch["garment_mask"].shape


def test_sizes_not_divisible_by_the_depth_are_refused():
    config = tiny_config()
    with pytest.raises(ValueError, match="divisible"):
        Warper(config.warper, REPRESENTATION_CHANNELS, 60, 48)
    generator = UNetGenerator(config.generator, REPRESENTATION_CHANNELS + 4)
    with pytest.raises(ValueError, match="divisible"):
        generator(torch.zeros(1, REPRESENTATION_CHANNELS, 60, 48), torch.zeros(1, 3, 60, 48), torch.zeros(1, 1, 60, 48))


def test_correlation_shape_and_self_similarity():
    features = torch.nn.functional.normalize(torch.randn(1, 8, 4, 3), dim=1)
    corr = correlation(features, features)
    assert corr.shape == (1, 12, 4, 3)
    # Channel k compares garment location k with every person location: it peaks (at 1) at location k.
    assert torch.allclose(corr[0].flatten(1).diagonal(), torch.ones(12), atol=1e-5)


def test_discriminator_returns_features_at_every_scale():
    disc = MultiScaleDiscriminator(5, channels=8, n_layers=3, scales=3)
    outputs = disc(torch.randn(2, 5, 64, 48))
    assert len(outputs) == 3 and all(len(features) == 4 for features in outputs)
    assert outputs[0][-1].shape == (2, 1, 8, 6) and outputs[1][-1].shape == (2, 1, 4, 3)


def test_gradients_reach_every_parameter():
    config = tiny_config()
    model = TryOnModel(config)
    out = model(**inputs())
    (out["output"].mean() + out["warped_garment"].mean() + out["warped_mask"].mean()).backward()
    disc = MultiScaleDiscriminator(REPRESENTATION_CHANNELS + 3, 8, 3, 2)
    sum(f[-1].mean() for f in disc(torch.randn(2, REPRESENTATION_CHANNELS + 3, 64, 48))).backward()
    for name, p in [*model.named_parameters(), *disc.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name
