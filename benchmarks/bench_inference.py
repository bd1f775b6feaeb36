"""Inference timings of TryOnPipeline. Prints figures; asserts nothing.

python benchmarks/bench_inference.py [--checkpoint DIR] [--device cpu|cuda] [--batch 1 8] [--size 256x192 ...]

Inputs are synthetic (made in memory), so the figures need no dataset.
"""

from __future__ import annotations

import argparse
from functools import partial

import torch
from timing import median_seconds

from tryon.data.synthetic import synthetic_sample
from tryon.pipeline import TryOnPipeline

KEYS = ("person", "keypoints", "parse", "garment", "garment_mask")


def make_batch(batch_size: int) -> dict[str, torch.Tensor]:
    samples = [synthetic_sample((256, 192), seed=i, garment_seed=i + 100) for i in range(batch_size)]
    return {k: torch.stack([s[k] for s in samples]) for k in KEYS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--size", nargs="+", default=["256x192", "512x384", "1024x768"])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    pipeline = TryOnPipeline.from_checkpoint(args.checkpoint, device=device)
    print(f"device={device} threads={torch.get_num_threads()} working size={pipeline.size}")
    for size in args.size:
        h, w = (int(v) for v in size.split("x"))
        for batch_size in args.batch:
            inputs = make_batch(batch_size)
            seconds = median_seconds(partial(pipeline.render, **inputs, size=(h, w)), args.repeats, device)
            print(f"size={size:>9} batch={batch_size:>2}  {seconds * 1000:8.1f} ms/batch  "
                  f"{seconds * 1000 / batch_size:7.1f} ms/image")  # fmt: skip


if __name__ == "__main__":
    main()
