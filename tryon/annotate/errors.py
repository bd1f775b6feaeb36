"""Errors of the annotators: ValueErrors that name the photo and the problem."""

from __future__ import annotations


class AnnotationError(ValueError):
    """A photo the annotators cannot use; ``source`` names it (a file, "photo 3 of the batch")."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class EmptyImageError(AnnotationError):
    """A 0-byte file or an image with no pixels."""


class ImageTooLargeError(AnnotationError):
    """More pixels than the annotators accept (refused before decoding, like a decompression bomb)."""


class NoPersonError(AnnotationError):
    """The parser finds (almost) no person pixels, or the pose too few confident keypoints."""


class NoGarmentError(AnnotationError):
    """The garment-mask extractor finds nothing that stands out from the background."""
