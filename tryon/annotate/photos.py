"""Photos in and out of the annotators' working frame.

Size policy: a photo of more than ``max_pixels`` (default 40 megapixels) is refused with
:class:`ImageTooLargeError`, read from the file's header before anything is decoded. Any photo up to
that is accepted: the networks see it scaled down (or up) into their working frame, letterboxed so
that its proportions are kept, and their outputs are mapped back to the photo's own pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from tryon.annotate.errors import AnnotationError, EmptyImageError, ImageTooLargeError
from tryon.pipeline import resize_image

DEFAULT_MAX_PIXELS = 40_000_000  # about 7300x5500; PIL's own bomb guard only starts at 89 million


def check_photo_size(width: int, height: int, source: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise EmptyImageError for a photo without pixels, ImageTooLargeError above ``max_pixels``."""
    if width <= 0 or height <= 0:
        raise EmptyImageError(source, f"empty image ({width}x{height} pixels)")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            source, f"image too large ({width}x{height} = {width * height} pixels; the limit is {max_pixels})"
        )


def open_photo(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open a photo file as RGB with its EXIF orientation applied, checking its size before decoding it."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(str(path), "missing file")
    if path.stat().st_size == 0:
        raise EmptyImageError(str(path), "empty file (0 bytes)")
    try:
        with Image.open(path) as image:
            check_photo_size(image.width, image.height, str(path), max_pixels)
            return ImageOps.exif_transpose(image).convert("RGB")
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(str(path), f"image too large ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise AnnotationError(str(path), f"unreadable image ({error})") from None


@dataclass(frozen=True)
class Frame:
    """Where a ``photo_size`` photo lies in a ``work_size`` frame: scaled to ``content_size`` at (top, left)."""

    photo_size: tuple[int, int]
    work_size: tuple[int, int]
    content_size: tuple[int, int]
    top: int
    left: int

    @classmethod
    def fit(cls, photo_size: tuple[int, int], work_size: tuple[int, int]) -> Frame:
        """The largest centred placement that keeps the photo's proportions."""
        scale = min(work_size[0] / photo_size[0], work_size[1] / photo_size[1])
        content = (
            min(work_size[0], max(1, round(photo_size[0] * scale))),
            min(work_size[1], max(1, round(photo_size[1] * scale))),
        )
        top, left = (work_size[0] - content[0]) // 2, (work_size[1] - content[1]) // 2
        return cls(tuple(photo_size), tuple(work_size), content, top, left)

    def to_work(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` photos -> ``(B, C, h, w)``; the margins repeat the photo's edge (plain backgrounds)."""
        content = resize_image(images, self.content_size)
        bottom = self.work_size[0] - self.content_size[0] - self.top
        right = self.work_size[1] - self.content_size[1] - self.left
        if self.top or bottom or self.left or right:
            content = F.pad(content, (self.left, right, self.top, bottom), mode="replicate")
        return content

    def crop(self, maps: torch.Tensor) -> torch.Tensor:
        """The photo's part of ``(B, C, h', w')`` maps at the working size or any multiple/fraction of it."""
        sy, sx = maps.shape[-2] / self.work_size[0], maps.shape[-1] / self.work_size[1]
        top, left = round(self.top * sy), round(self.left * sx)
        height = max(1, round(self.content_size[0] * sy))
        width = max(1, round(self.content_size[1] * sx))
        return maps[..., top : top + height, left : left + width]

    def keypoints_to_photo(self, keypoints: torch.Tensor) -> torch.Tensor:
        """``(B, K, 3)`` keypoints in working-frame pixels -> photo pixels; missing points stay (0, 0, 0)."""
        scale = torch.tensor(
            [self.photo_size[1] / self.content_size[1], self.photo_size[0] / self.content_size[0]],
            device=keypoints.device,
        )
        offset = torch.tensor([self.left, self.top], device=keypoints.device, dtype=torch.float32)
        out = keypoints.clone().float()
        out[..., :2] = (keypoints[..., :2] - offset) * scale
        out[..., 0].clamp_(0, self.photo_size[1] - 1)
        out[..., 1].clamp_(0, self.photo_size[0] - 1)
        out[keypoints[..., 2] <= 0] = 0.0
        return out
