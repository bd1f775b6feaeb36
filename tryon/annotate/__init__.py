"""Annotators: raw photo -> pose keypoints (COCO-18), human parse (LIP) and garment mask.

- :mod:`tryon.annotate.garment_mask`: classical extractor for product photos on a plain background.
- :mod:`tryon.annotate.parser` and :mod:`tryon.annotate.pose`: the two small networks the project trains.
- :mod:`tryon.annotate.annotator`: :class:`~tryon.annotate.annotator.Annotator`, which loads both once.
- :mod:`tryon.annotate.train` and :mod:`tryon.annotate.evaluate`: their training and their figures.
"""

from tryon.annotate.errors import (
    AnnotationError,
    EmptyImageError,
    ImageTooLargeError,
    NoGarmentError,
    NoPersonError,
)

__all__ = ["AnnotationError", "EmptyImageError", "ImageTooLargeError", "NoGarmentError", "NoPersonError"]
