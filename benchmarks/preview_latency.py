"""Time from POST /v1/previews to a succeeded preview on the embedded default (`tryon serve`), on the CPU.

Starts the real service (API + worker process, SQLite, local storage, filesystem broker) in a temporary
data directory, uploads a synthetic garment and model photo, then requests previews with distinct content
keys and polls until each has succeeded. Prints the cold figure (the worker loads the pipeline) and the
warm ones, and one request/response round trip.

    python benchmarks/preview_latency.py [--checkpoint DIR] [--size 512x384] [--runs 10]

Without --checkpoint the demo checkpoint is used; while the package ships none, a randomly initialised model
with the CPU demo architecture (tryon/configs/cpu-demo.json) stands in (same compute, noise output).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "api"))
sys.path.insert(0, str(ROOT))

from api_support import garment_png, image_bytes, parse_png, pose_json  # noqa: E402


def stand_in_checkpoint(path: Path) -> Path:
    from tryon.checkpoint import save_checkpoint
    from tryon.config import load_config
    from tryon.model import TryOnModel

    config = load_config(ROOT / "tryon" / "configs" / "cpu-demo.json", [])
    return save_checkpoint(TryOnModel(config), path, card="# Random stand-in for the demo checkpoint\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(data_dir: Path, port: int, log: Path) -> tuple[subprocess.Popen, str]:
    """`tryon serve` in a subprocess, its output (API and worker) in ``log``; returns it and the admin key."""
    # No rate limit: the benchmark polls far faster than a storefront would.
    env = {
        **os.environ,
        "TRYON_DATA_DIR": str(data_dir),
        "TRYON_RATE_LIMIT_PER_MINUTE": "0",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    code = f"from api.cli import serve; serve(host='127.0.0.1', port={port})"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    for _ in range(600):
        keys = [line.strip() for line in log.read_text().splitlines() if line.strip().startswith("tryon_")]
        if keys:
            return process, keys[0]
        time.sleep(0.1)
    raise RuntimeError(f"the service printed no admin key; see {log}")


def wait_ready(base: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("service not ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--size", default="512x384", choices=["256x192", "512x384", "1024x768"])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    from tryon.pipeline import DEMO_CHECKPOINT

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = args.checkpoint
        if checkpoint is None and not (DEMO_CHECKPOINT / "config.json").exists():
            checkpoint = stand_in_checkpoint(tmp / "stand-in")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process, key = start_service(tmp / "data", port, tmp / "service.log")
        try:
            wait_ready(base)
            client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120)
            if checkpoint is not None:
                body = {"name": "bench", "checkpoint": str(checkpoint), "categories": ["tops"], "activate": True}
                client.post("/v1/model-versions", json=body).raise_for_status()
            files = {
                "image": ("p.png", image_bytes(768, 1024, (120, 110, 100)), "image/png"),
                "pose": ("p.json", pose_json(768, 1024), "application/json"),
                "parse": ("s.png", parse_png(768, 1024), "image/png"),
            }
            photo = client.post("/v1/model-photos", data={"name": "bench"}, files=files).json()
            timings, render_ms, sample = [], [], None
            for run in range(args.runs + 1):
                garment = client.post(
                    "/v1/garments",
                    files={"image": ("g.png", garment_png(768, 1024), "image/png")},
                    data={"sku": f"BENCH-{run}", "name": "tee", "category": "tops"},
                ).json()
                request = {
                    "model_photo_id": photo["id"],
                    "garment_id": garment["id"],
                    "size": args.size,
                    "format": "jpeg",
                }
                started = time.perf_counter()
                answer = client.post("/v1/previews", json=request)
                preview = answer.json()
                assert answer.status_code in (200, 202), answer.text
                while preview["status"] in ("queued", "running"):
                    time.sleep(0.01)
                    preview = client.get(f"/v1/previews/{preview['id']}").json()
                elapsed = time.perf_counter() - started
                assert preview["status"] == "succeeded", preview
                timings.append(elapsed)
                render_ms.append(preview["render_ms"])
                if sample is None:
                    sample = (request, answer.status_code, answer.json(), preview)
            image = client.get(preview["image_url"])
            retried = [line for line in (tmp / "service.log").read_text().splitlines() if "'succeeded': 0" in line]
        finally:
            process.terminate()
            process.wait(timeout=30)

    cold, warm = timings[0], timings[1:]
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    print(f"checkpoint: {checkpoint or 'demo'}  size: {args.size}  cpu threads: {threads}")
    print(f"cold (first preview, the worker loads the pipeline): {cold * 1000:.0f} ms")
    if warm:
        print(
            f"warm over {len(warm)} previews: median {statistics.median(warm) * 1000:.0f} ms, "
            f"min {min(warm) * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms; "
            f"of which rendering (render_ms, median): {statistics.median(render_ms[1:]):.0f} ms"
        )
    if retried:
        print("render attempts that failed:", *retried, sep="\n  ")
    request, status, first, final = sample
    print("\nPOST /v1/previews", json.dumps(request))
    print(f"-> {status}", json.dumps(first, indent=2))
    print(f"GET /v1/previews/{final['id']} -> 200", json.dumps(final, indent=2))
    print(
        f"GET {final['image_url']} -> {image.status_code} {image.headers['content-type']} {len(image.content)} bytes, "
        f"ETag {image.headers['etag']}"
    )


if __name__ == "__main__":
    main()
