"""Timings of the annotators: garment-mask extraction, parser and pose network. Prints figures; asserts nothing.

python benchmarks/bench_annotate.py [--device cpu|cuda] [--work 128x96 256x192] [--photo 256x192 1024x768]

The networks are randomly initialised at the default architecture (their speed does not depend on the
weights) and the photos synthetic, so the figures need neither checkpoints nor a dataset.
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch
from timing import median_seconds

from tryon.annotate.annotator import Annotator
from tryon.annotate.checkpoint import build_network
from tryon.annotate.garment_mask import extract_garment_masks
from tryon.config import TryOnConfig
from tryon.data.synthetic import draw_cloth, random_garment, synthetic_sample
from tryon.pipeline import resize_image


def garments(batch_size: int, size: tuple[int, int]) -> torch.Tensor:
    images = [draw_cloth(random_garment(np.random.default_rng(i)), (256, 192))[0] for i in range(batch_size)]
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return resize_image(batch, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--work", nargs="+", default=["128x96", "256x192"], help="networks' working sizes")
    parser.add_argument("--photo", nargs="+", default=["256x192", "1024x768"], help="photo sizes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()}")
    for photo in args.photo:
        size = tuple(int(v) for v in photo.split("x"))
        for batch_size in args.batch:
            seconds = median_seconds(partial(extract_garment_masks, garments(batch_size, size).to(device)),
                                     args.repeats, device)  # fmt: skip
            print(f"garment mask  photo={photo:>9} batch={batch_size:>2}  {seconds * 1000 / batch_size:7.1f} ms/image")
    for work in args.work:
        config = TryOnConfig()
        config.data.height, config.data.width = (int(v) for v in work.split("x"))
        annotator = Annotator(build_network("parser", config), build_network("pose", config), device)
        for photo in args.photo:
            size = tuple(int(v) for v in photo.split("x"))
            for batch_size in args.batch:
                person = torch.stack([synthetic_sample(size, seed=i)["person"] for i in range(batch_size)])
                run = partial(annotator.annotate_tensors, person, require_person=False)
                seconds = median_seconds(run, args.repeats, device)
                print(f"parse + pose  work={work:>8} photo={photo:>9} batch={batch_size:>2}  "
                      f"{seconds * 1000 / batch_size:7.1f} ms/image")  # fmt: skip


if __name__ == "__main__":
    main()
