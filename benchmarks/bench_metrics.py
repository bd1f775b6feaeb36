"""Timings of the evaluation metrics and the perceptual loss. Prints figures; asserts nothing.

python benchmarks/bench_metrics.py [--device cuda] [--batch 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from timing import median_seconds

from tryon.metrics import InceptionFeatures, fid, kid
from tryon.networks.perceptual import PerceptualLoss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    images = torch.rand(args.batch, 3, 256, 192, device=device) * 2 - 1

    inception = InceptionFeatures(device)
    seconds = median_seconds(lambda: inception(images), args.repeats, device)
    print(f"InceptionFeatures, {args.batch} x 256x192 on {device}: {seconds * 1e3:.0f} ms per batch")

    loss = PerceptualLoss().to(device)
    fake = images.clone().requires_grad_(True)
    real = torch.rand_like(images) * 2 - 1
    seconds = median_seconds(lambda: loss(fake, real).backward(), args.repeats, device)
    print(f"PerceptualLoss forward+backward, {args.batch} x 256x192 on {device}: {seconds * 1e3:.0f} ms")

    rng = np.random.default_rng(0)
    for count in (273, 5000):
        a, b = rng.normal(size=(count, 2048)), rng.normal(size=(count, 2048)) + 0.1
        print(f"fid, {count} x 2048 per set: {median_seconds(lambda a=a, b=b: fid(a, b), 1, device):.2f} s")
        print(f"kid (100 subsets), {count} x 2048: {median_seconds(lambda a=a, b=b: kid(a, b), 1, device):.2f} s")


if __name__ == "__main__":
    main()
