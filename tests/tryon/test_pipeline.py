import numpy as np
import pytest
import torch
from PIL import Image

from tryon.checkpoint import create_random_checkpoint
from tryon.data.labels import FACE, HAIR
from tryon.data.synthetic import synthetic_sample
from tryon.pipeline import (
    DEMO_CHECKPOINT,
    TryOnPipeline,
    load_garment_inputs,
    load_person_inputs,
    tensor_to_pil,
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return TryOnPipeline.from_checkpoint(create_random_checkpoint(tmp_path_factory.mktemp("ckpt")))


def batch(size=(64, 48), n=2):
    samples = [synthetic_sample(size, seed=i, garment_seed=i + 5) for i in range(n)]
    keys = ("person", "keypoints", "parse", "garment", "garment_mask")
    return {k: torch.stack([s[k] for s in samples]) for k in keys}


@pytest.mark.parametrize(("photo", "size"), [((64, 48), None), ((96, 64), (200, 150)), ((160, 120), (32, 24))])
def test_any_input_size_renders_at_the_size_asked_for(pipeline, photo, size):
    image = pipeline.render(**batch(photo), size=size)
    assert image.shape == (2, 3, *(size or photo))
    assert image.dtype == torch.float32 and image.min() >= -1 and image.max() <= 1


def test_pixels_outside_the_tryon_region_are_the_photo_own(pipeline):
    inputs = batch((128, 96))
    out = pipeline.render(**inputs, return_intermediates=True)
    outside = out.tryon_region == 0
    # The head is never repainted; the lower body only where the new garment covers it.
    kept = torch.isin(inputs["parse"], torch.tensor([FACE, HAIR]))[:, None]
    assert kept.any() and torch.all(outside[kept])
    photo = inputs["person"]
    assert torch.allclose(out.image.expand_as(photo)[outside.expand_as(photo)], photo[outside.expand_as(photo)])


def test_intermediates_are_at_the_result_size(pipeline):
    out = pipeline.render(**batch(), size=(128, 96), return_intermediates=True)
    assert out.image.shape == out.baseline.shape == out.warped_garment.shape == (2, 3, 128, 96)
    assert out.warped_mask.shape == out.tryon_region.shape == (2, 1, 128, 96)


def test_pil_helpers_round_trip_and_check_shapes():
    sample = synthetic_sample((64, 48), seed=0)
    photo = tensor_to_pil(sample["person"])
    inputs = load_person_inputs(photo, sample["keypoints"].numpy(), sample["parse"].numpy().astype(np.uint8))
    assert torch.allclose(inputs["person"][0], sample["person"], atol=1 / 127)
    with pytest.raises(ValueError, match="parse"):
        load_person_inputs(photo, sample["keypoints"].numpy(), np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="COCO-18"):
        load_person_inputs(photo, np.zeros((25, 3)), sample["parse"].numpy())
    garment = load_garment_inputs(photo, Image.fromarray(np.full((64, 48), 255, np.uint8)))
    assert garment["garment_mask"].shape == (1, 1, 64, 48) and garment["garment_mask"].min() == 1


def test_the_demo_checkpoint_renders_out_of_the_box():
    pipeline = TryOnPipeline.from_checkpoint(DEMO_CHECKPOINT)
    image = pipeline.render(**batch((256, 192), n=1))
    assert image.shape == (1, 3, 256, 192) and torch.isfinite(image).all()
