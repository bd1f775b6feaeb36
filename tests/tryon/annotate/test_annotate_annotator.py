import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from tryon.annotate.annotator import Annotator
from tryon.annotate.checkpoint import DEFAULT_CHECKPOINTS, build_network, save_annotator
from tryon.annotate.errors import AnnotationError, EmptyImageError, ImageTooLargeError, NoPersonError
from tryon.annotate.parser import HumanParser
from tryon.annotate.photos import Frame, open_photo
from tryon.annotate.pose import PoseEstimator
from tryon.checkpoint import create_random_checkpoint
from tryon.data.labels import UPPER_CLOTHES
from tryon.pipeline import TryOnPipeline, pil_to_tensor

from .annotate_support import fixed_batch, tiny_annotator_config


def redness(person: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)``: 1 on pure red, 0 on white or grey."""
    return ((person[:, :1] - person[:, 1:].mean(1, keepdim=True)) / 2).clamp(0, 1)


class RedParser(HumanParser):
    """Stands in for a trained parser: red pixels are upper-clothes, the rest background."""

    def forward(self, person):
        logits = torch.zeros(len(person), 20, *person.shape[-2:])
        logits[:, UPPER_CLOTHES] = (redness(person)[:, 0] - 0.5) * 20
        return logits


class RedDotPose(PoseEstimator):
    """Stands in for a trained pose network: every keypoint is the red dot."""

    def forward(self, person):
        heatmap = F.avg_pool2d(redness(person), self.stride)
        return heatmap.expand(-1, 18, -1, -1)


def stub_annotator(**kwargs) -> Annotator:
    config = tiny_annotator_config()
    return Annotator(RedParser(config), RedDotPose(config), "cpu", **kwargs)


def red_dot_photo(size: tuple[int, int], centre: tuple[float, float], radius: float) -> Image.Image:
    photo = Image.new("RGB", (size[1], size[0]), (255, 255, 255))
    x, y = centre
    ImageDraw.Draw(photo).ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 0, 0))
    return photo


@pytest.mark.parametrize(
    ("size", "centre"),
    [((64, 48), (20.0, 30.0)), ((128, 96), (70.0, 40.0)), ((100, 200), (150.0, 60.0)), ((300, 90), (45.0, 200.0))],
    ids=["working-size", "twice", "wide", "tall"],
)
def test_keypoints_and_parse_land_on_the_photo_whatever_its_size(size, centre):
    radius = 0.12 * min(size)
    keypoints, parse = stub_annotator().annotate(red_dot_photo(size, centre, radius))
    assert keypoints.shape == (18, 3) and keypoints.dtype == np.float32
    assert parse.shape == size and parse.dtype == np.uint8
    pixel = max(size[0] / 64, size[1] / 48)  # one working pixel, in photo pixels
    assert np.abs(keypoints[:, :2] - np.array(centre)).max() < 2 * pixel
    yy, xx = np.mgrid[: size[0], : size[1]]
    disc = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2
    found = parse == UPPER_CLOTHES
    assert (found & disc).sum() / (found | disc).sum() > 0.7


def test_a_photo_without_a_person_is_refused_by_name():
    with pytest.raises(NoPersonError, match=r"empty\.jpg: no person found \(0\.0% of the pixels .* 0 of 18"):
        stub_annotator().annotate(Image.new("RGB", (48, 64), (200, 200, 200)), source="empty.jpg")


def test_too_few_confident_keypoints_is_no_person_either():
    annotator = stub_annotator()
    annotator.pose.config.pose.confidence_threshold = 1.1  # no peak is that high
    with pytest.raises(NoPersonError, match="0 of 18 keypoints"):
        annotator.annotate(red_dot_photo((64, 48), (24, 30), 10))


def test_without_requiring_a_person_what_was_found_comes_back():
    keypoints, parse = stub_annotator().annotate_tensors(torch.ones(2, 3, 64, 48), require_person=False)
    assert keypoints.shape == (2, 18, 3) and (keypoints == 0).all()
    assert parse.shape == (2, 64, 48) and parse.dtype == torch.int64 and (parse == 0).all()


def test_an_image_without_pixels_is_refused():
    with pytest.raises(EmptyImageError, match="empty image"):
        stub_annotator().annotate(Image.new("RGB", (0, 0)))


def test_photos_above_the_pixel_limit_are_refused():
    with pytest.raises(ImageTooLargeError, match="too large"):
        stub_annotator(max_pixels=1000).annotate(red_dot_photo((64, 48), (24, 30), 10))


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but holds almost no data (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = chunk(b"IDAT", zlib.compress(b"\0" * 16))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + data + chunk(b"IEND", b"")


def test_photo_files_are_checked_before_decoding(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "bomb.png").write_bytes(png_header_claiming(9000, 6000))
    with pytest.raises(EmptyImageError, match=r"empty\.jpg: empty file \(0 bytes\)"):
        open_photo(tmp_path / "empty.jpg")
    with pytest.raises(AnnotationError, match=r"text\.jpg: unreadable image"):
        open_photo(tmp_path / "text.jpg")
    with pytest.raises(AnnotationError, match=r"nowhere\.jpg: missing file"):
        open_photo(tmp_path / "nowhere.jpg")
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png: image too large \(9000x6000"):
        open_photo(tmp_path / "bomb.png")


def test_a_frame_letterboxes_and_maps_back():
    frame = Frame.fit((100, 200), (64, 48))
    assert frame.content_size == (24, 48) and (frame.top, frame.left) == (20, 0)
    framed = frame.to_work(torch.rand(1, 3, 100, 200))
    assert framed.shape == (1, 3, 64, 48)
    assert frame.crop(torch.zeros(1, 18, 16, 12)).shape == (1, 18, 6, 12)
    points = torch.tensor([[[24.0, 32.0, 0.5], [5.0, 5.0, 0.0]]])
    assert frame.keypoints_to_photo(points).tolist() == [[[100.0, 50.0, 0.5], [0.0, 0.0, 0.0]]]


def test_garment_masks_come_from_the_classical_extractor():
    photo = Image.new("RGB", (48, 64), (255, 255, 255))
    ImageDraw.Draw(photo).rectangle([12, 10, 36, 54], fill=(20, 60, 200))
    mask = stub_annotator().garment_mask(photo)
    assert mask.shape == (64, 48) and mask[30, 24] and not mask[2, 2]


@pytest.fixture
def checkpoints(tmp_path):
    torch.manual_seed(0)
    config = tiny_annotator_config()
    return (
        save_annotator(build_network("parser", config), tmp_path / "parser"),
        save_annotator(build_network("pose", config), tmp_path / "pose"),
    )


def test_annotator_loads_from_checkpoints_and_answers_at_the_photos_size(checkpoints):
    annotator = Annotator.from_checkpoints(*checkpoints, device="cpu")
    keypoints, parse = annotator.annotate_tensors(torch.rand(1, 3, 70, 50) * 2 - 1, require_person=False)
    assert keypoints.shape == (1, 18, 3) and parse.shape == (1, 70, 50)
    assert parse.min() >= 0 and parse.max() < 20
    present = keypoints[0, :, 2] > 0
    assert (keypoints[0, present, 0] <= 49).all() and (keypoints[0, present, 1] <= 69).all()


def test_the_shipped_annotators_load_with_their_model_cards():
    annotator = Annotator.from_checkpoints(device="cpu")  # tryon/weights/parser and tryon/weights/pose
    keypoints, parse = annotator.annotate_tensors(torch.rand(1, 3, 256, 192) * 2 - 1, require_person=False)
    assert keypoints.shape == (1, 18, 3) and parse.shape == (1, 256, 192)
    for kind, figure in (("parser", "mIoU"), ("pose", "PCKh@0.5")):
        card = (DEFAULT_CHECKPOINTS[kind] / "MODEL_CARD.md").read_text()
        assert "Research/demo weights" in card and figure in card and "val_pairs.txt" in card


def test_the_pipeline_annotates_what_it_is_not_given(tmp_path):
    pipeline = TryOnPipeline.from_checkpoint(create_random_checkpoint(tmp_path / "tryon"))
    pipeline.annotator = stub_annotator()
    person = pil_to_tensor(red_dot_photo((64, 48), (24, 30), 10))
    batch = fixed_batch(1)
    garment, garment_mask = batch["garment"], batch["garment_mask"]
    keypoints, parse = pipeline.annotator.annotate_tensors(person)
    expected = pipeline.render(person, keypoints, parse, garment, garment_mask)
    assert torch.equal(pipeline.render_photo(person, garment, garment_mask), expected)
    with_mask = pipeline.render(person, keypoints, parse, garment, pipeline.annotator.garment_masks(garment))
    assert torch.equal(pipeline.render_photo(person, garment), with_mask)


def test_the_pipeline_leaves_given_annotations_alone(tmp_path):
    pipeline = TryOnPipeline.from_checkpoint(create_random_checkpoint(tmp_path / "tryon"))

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"annotator.{name} used although everything was given")

    pipeline.annotator = Untouchable()
    batch = fixed_batch(1)
    args = (batch["person"], batch["keypoints"], batch["parse"], batch["garment"], batch["garment_mask"])
    expected = pipeline.render(*args)
    given = pipeline.render_photo(
        batch["person"], batch["garment"], batch["garment_mask"], keypoints=batch["keypoints"], parse=batch["parse"]
    )
    assert torch.equal(given, expected)
