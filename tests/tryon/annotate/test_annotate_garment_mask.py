import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tryon.annotate.errors import EmptyImageError, NoGarmentError
from tryon.annotate.garment_mask import (
    GarmentMaskSettings,
    connected_labels,
    extract_garment_mask,
    extract_garment_masks,
    fill_holes,
    largest_component,
)
from tryon.data.synthetic import draw_cloth, random_garment


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


def shirt(size=(64, 48), colour=(200, 30, 40), background=(255, 255, 255)):
    """A T-shirt silhouette in ``colour`` on ``background``: PIL RGB photo and its bool mask."""
    height, width = size
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    draw.rectangle([width * 0.3, height * 0.2, width * 0.7, height * 0.85], fill=1)
    draw.polygon([(width * 0.3, height * 0.2), (width * 0.12, height * 0.4), (width * 0.3, height * 0.45)], fill=1)
    draw.polygon([(width * 0.7, height * 0.2), (width * 0.88, height * 0.4), (width * 0.7, height * 0.45)], fill=1)
    array = np.asarray(mask).astype(bool)
    photo = np.where(array[..., None], np.array(colour, np.uint8), np.array(background, np.uint8))
    return Image.fromarray(photo.astype(np.uint8)), array


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_product_photos_are_cut_out(seed):
    image, reference = draw_cloth(random_garment(np.random.default_rng(seed)), (128, 96))
    mask = extract_garment_mask(Image.fromarray(image))
    assert mask.shape == (128, 96) and mask.dtype == bool
    assert iou(mask, reference) > 0.95


@pytest.mark.parametrize(
    ("colour", "background"),
    [((245, 245, 243), (255, 255, 255)), ((40, 120, 200), (128, 128, 128)), ((20, 20, 20), (230, 225, 220))],
    ids=["white-on-white", "on-grey", "dark-on-beige"],
)
def test_garments_stand_out_from_plain_backgrounds_of_any_colour(colour, background):
    photo, reference = shirt((128, 96), colour, background)
    assert iou(extract_garment_mask(photo), reference) > 0.95


def test_prints_of_the_background_colour_are_filled_and_specks_are_dropped():
    photo, reference = shirt((128, 96))
    draw = ImageDraw.Draw(photo)
    draw.ellipse([40, 50, 56, 66], fill=(255, 255, 255))  # a white print inside the shirt
    draw.rectangle([2, 118, 8, 124], fill=(0, 0, 0))  # a speck of dust far from it
    mask = extract_garment_mask(photo)
    assert mask[58, 48]  # the print is garment
    assert not mask[120, 5]  # the speck is not
    assert iou(mask, reference) > 0.95


def test_large_photos_are_worked_small_and_answered_at_their_size():
    photo, reference = shirt((800, 600))
    mask = extract_garment_mask(photo, GarmentMaskSettings(work_long_side=200))
    assert mask.shape == (800, 600)
    assert iou(mask, reference) > 0.95


def test_batched_masks_have_the_photos_shape():
    photos = torch.stack([torch.from_numpy(np.array(shirt()[0])).permute(2, 0, 1)] * 2).float() / 127.5 - 1
    masks = extract_garment_masks(photos)
    assert masks.shape == (2, 1, 64, 48) and set(masks.unique().tolist()) <= {0.0, 1.0}


def test_a_blank_photo_has_no_garment():
    with pytest.raises(NoGarmentError, match="blank.jpg: no garment found"):
        extract_garment_mask(Image.new("RGB", (48, 64), (255, 255, 255)), source="blank.jpg")


def test_an_image_without_pixels_is_refused():
    with pytest.raises(EmptyImageError, match="empty image"):
        extract_garment_mask(Image.new("RGB", (0, 0)))


def test_labelling_and_hole_filling_agree_with_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    generator = torch.Generator().manual_seed(0)
    masks = (torch.rand(6, 1, 40, 30, generator=generator) > torch.linspace(0.3, 0.7, 6).view(6, 1, 1, 1)).float()
    labels = connected_labels(masks).view(6, 40, 30).numpy()
    filled = fill_holes(masks)[:, 0].numpy() > 0.5
    biggest = largest_component(masks)[:, 0].numpy() > 0.5
    for i, mask in enumerate(masks[:, 0].numpy().astype(bool)):
        reference, count = ndimage.label(mask, structure=np.ones((3, 3)))
        # The same partition: every reference component maps to exactly one label and back.
        assert len(set(zip(reference[mask].tolist(), labels[i][mask].tolist()))) == count
        assert len(set(labels[i][mask].tolist())) == count
        assert (filled[i] == ndimage.binary_fill_holes(mask)).all()
        sizes = np.bincount(reference[mask])
        assert biggest[i].sum() == sizes.max()
