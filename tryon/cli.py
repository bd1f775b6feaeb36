"""`tryon ...` commands. Errors the user can fix print one line and exit 2; nothing is half-written.

The service adds `tryon serve` and `tryon db ...` through the "tryon.commands" entry-point group, so
this module never imports the service.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="tryon: virtual try-on. Train, evaluate and render; `tryon serve` runs the service.")

Checkpoint = Annotated[
    Path | None, typer.Option("--checkpoint", help="Checkpoint directory (default: the demo checkpoint).")
]
Device = Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda when available).")]
ANNOTATOR_STAGES = ("parser", "pose")  # `tryon train` stages trained by tryon.annotate
ALL_PARTS = "garment,parse,pose,tryon"  # what `tryon eval-annotators` measures by default


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def train(
    stage: Annotated[str, typer.Argument(help="warper, generator, or an annotator: parser or pose")],
    data: Annotated[Path, typer.Option(help="ROOT with train_pairs.txt and train/ (VITON or VITON-HD layout).")],
    out: Annotated[Path, typer.Option(help="Run directory: config, log.csv, samples/, checkpoint/.")],
    config: Annotated[Path | None, typer.Option(help="JSON config file (partial is fine).")] = None,
    warper: Annotated[Path | None, typer.Option(help="Trained warper checkpoint (generator stage).")] = None,
    pack: Annotated[Path | None, typer.Option(help="Cache file for the decoded training set.")] = None,
    steps: Annotated[int | None, typer.Option(help="Shortcut for optim.steps=N.")] = None,
    device: Device = None,
    fresh: Annotated[bool, typer.Option(help="Ignore a checkpoint already in OUT instead of resuming.")] = False,
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value, e.g. optim.lr=1e-4")] = None,
) -> None:
    """Train the warper, the generator on the warps of a trained warper, or the parser or pose annotator."""
    from tryon.config import load_config
    from tryon.train import train as run_training

    try:
        resolved = load_config(config, (overrides or []) + ([f"optim.steps={steps}"] if steps else []))
        if stage in ANNOTATOR_STAGES:
            from tryon.annotate.train import train_annotator

            checkpoint = train_annotator(stage, data, out, resolved, device=device, pack=pack, resume=not fresh)
        else:
            checkpoint = run_training(
                stage, data, out, resolved, warper=warper, device=device, pack=pack, resume=not fresh
            )
    except ValueError as error:  # DataError, CheckpointError and config errors are ValueErrors
        fail(str(error))
    typer.echo(f"checkpoint: {checkpoint}")


@app.command("eval")
def evaluate(
    data: Annotated[Path, typer.Option(help="A split directory (holding image/, cloth/, ...).")],
    pairs: Annotated[Path, typer.Option(help="Pairs file, e.g. ROOT/val_pairs.txt.")],
    out: Annotated[Path, typer.Option(help="Output directory for renders and metrics.json.")],
    checkpoint: Checkpoint = None,
    batch_size: int = 8,
    fid: Annotated[bool, typer.Option(help="Compute FID/KID (unpaired pairs files).")] = True,
    device: Device = None,
) -> None:
    """Render every pair and write OUT/metrics.json (model and paste baseline)."""
    from tryon.evaluate import evaluate as run_evaluation
    from tryon.pipeline import TryOnPipeline

    try:
        pipeline = TryOnPipeline.from_checkpoint(checkpoint, device=_device(device))
        metrics = run_evaluation(pipeline, data, pairs, out, batch_size=batch_size, compute_fid=fid)
    except ValueError as error:
        fail(str(error))
    typer.echo(json.dumps(metrics, indent=2))


@app.command()
def render(
    person: Annotated[Path, typer.Option(help="Model photo (JPEG, PNG or WebP).")],
    garment: Annotated[Path, typer.Option(help="In-shop garment photo.")],
    out: Annotated[Path, typer.Option(help="Output image path.")],
    pose: Annotated[Path | None, typer.Option(help="OpenPose JSON, COCO-18 or BODY_25 (default: estimated).")] = None,
    parse: Annotated[Path | None, typer.Option(help="LIP parse PNG at the photo's size (default: parsed).")] = None,
    garment_mask: Annotated[
        Path | None, typer.Option(help="Garment mask (default: extracted from the plain background).")
    ] = None,
    size: Annotated[str | None, typer.Option(help="HxW of the result, e.g. 512x384 (default: the photo's).")] = None,
    checkpoint: Checkpoint = None,
    device: Device = None,
) -> None:
    """Render one garment onto one model photo; pose, parse and mask not given come from the annotators."""
    from tryon.pipeline import TryOnPipeline, load_garment_inputs, open_rgb, tensor_to_pil

    try:
        requested = _parse_size(size)  # cheap checks first: a typo should not wait for a model to load
        photo = open_rgb(person)
        person_inputs = _person_inputs(photo, pose, parse)
        garment_inputs = load_garment_inputs(open_rgb(garment), open_rgb(garment_mask) if garment_mask else None)
        if garment_mask is None:
            garment_inputs["garment_mask"] = None
        pipeline = TryOnPipeline.from_checkpoint(checkpoint, device=_device(device))
        result = pipeline.render_photo(**person_inputs, **garment_inputs, size=requested)
    except ValueError as error:  # NoPersonError and NoGarmentError included
        fail(str(error))
    out.parent.mkdir(parents=True, exist_ok=True)
    tensor_to_pil(result).save(out)
    typer.echo(f"wrote {out}")


def _person_inputs(photo, pose: Path | None, parse: Path | None) -> dict:
    """The photo as a batch, with the keypoints and parse read from files where given (None: annotate)."""
    import numpy as np

    from tryon.data.formats import read_keypoints, read_parse_uint8
    from tryon.pipeline import load_person_inputs

    keypoints = read_keypoints(pose) if pose else np.zeros((18, 3), np.float32)
    labels = read_parse_uint8(parse, "viton").numpy() if parse else np.zeros((photo.height, photo.width), np.uint8)
    inputs = load_person_inputs(photo, keypoints, labels)  # checks the sizes of what was given
    return {
        "person": inputs["person"],
        "keypoints": inputs["keypoints"] if pose else None,
        "parse": inputs["parse"] if parse else None,
    }


@app.command("example-inputs")
def example_inputs(
    out: Annotated[Path, typer.Option(help="Directory to write a tiny synthetic dataset into (VITON layout).")],
    pairs: Annotated[int, typer.Option(min=2, max=100, help="How many persons and garments.")] = 2,
) -> None:
    """Write synthetic model photos (with pose and parse) and garments (with masks) to try the service with.

    They are drawn figures, not photos: the demo model was trained on photos, so expect a rough render.
    """
    from tryon.data.synthetic import write_synthetic_dataset

    root = write_synthetic_dataset(out, num_pairs=pairs, size=(256, 192), splits=("val",))
    typer.echo(f"wrote {pairs} model photos and garments under {root / 'val'}")


@app.command()
def annotate(
    photos: Annotated[list[Path], typer.Argument(help="Person photos (product photos with --garments).")],
    out: Annotated[Path, typer.Option(help="Output directory: pose/ and image-parse/ in the VITON layout.")],
    parser: Annotated[Path | None, typer.Option(help="Parser checkpoint (default: the shipped one).")] = None,
    pose: Annotated[Path | None, typer.Option(help="Pose checkpoint (default: the shipped one).")] = None,
    garments: Annotated[
        bool, typer.Option("--garments", help="Product photos on a plain background: write OUT/cloth-mask/ instead.")
    ] = False,
    device: Device = None,
) -> None:
    """Write OUT/pose/<stem>_keypoints.json (COCO-18) and OUT/image-parse/<stem>.png (LIP) for each photo.

    Every photo is annotated before anything is written: one bad photo leaves OUT as it was.
    """
    from tryon.annotate.files import annotate_files

    try:
        written = annotate_files(photos, out, parser, pose, garments=garments, device=_device(device))
    except ValueError as error:  # AnnotationError, CheckpointError
        fail(str(error))
    typer.echo(f"wrote {len(written)} files under {out}")


@app.command("eval-annotators")
def eval_annotators(
    data: Annotated[Path, typer.Option(help="A split directory (holding image/, cloth/, ...).")],
    pairs: Annotated[Path, typer.Option(help="Pairs file, e.g. ROOT/val_pairs.txt.")],
    out: Annotated[Path, typer.Option(help="Output directory for metrics.json.")],
    parts: Annotated[str, typer.Option(help="Comma-separated, of: garment, parse, pose, tryon.")] = ALL_PARTS,
    parser: Annotated[Path | None, typer.Option(help="Parser checkpoint (default: the shipped one).")] = None,
    pose: Annotated[Path | None, typer.Option(help="Pose checkpoint (default: the shipped one).")] = None,
    checkpoint: Checkpoint = None,
    batch_size: int = 8,
    device: Device = None,
) -> None:
    """Garment-mask IoU, parse mIoU and part IoUs, pose PCKh@0.5 and try-on SSIM with annotated input."""
    from tryon.annotate.evaluate import evaluate_annotators

    chosen = tuple(part.strip() for part in parts.split(",") if part.strip())
    try:
        annotator = pipeline = None
        if set(chosen) & {"parse", "pose", "tryon"}:
            from tryon.annotate.annotator import Annotator

            annotator = Annotator.from_checkpoints(parser, pose, device=_device(device))
        if "tryon" in chosen:
            from tryon.pipeline import TryOnPipeline

            pipeline = TryOnPipeline.from_checkpoint(checkpoint, device=_device(device))
        report = evaluate_annotators(data, pairs, out, chosen, annotator, pipeline, batch_size=batch_size)
    except ValueError as error:
        fail(str(error))
    typer.echo(json.dumps(report, indent=2))


def _parse_size(size: str | None) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        height, width = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size {size!r} is not of the form HxW, e.g. 512x384") from None
    if height <= 0 or width <= 0 or height > 4096 or width > 4096:
        raise ValueError(f"--size {size!r} must be between 1x1 and 4096x4096")
    return height, width


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def add_plugin_commands(target: typer.Typer) -> None:
    """Commands other packages register under the "tryon.commands" entry-point group."""
    for entry in entry_points(group="tryon.commands"):
        try:
            command = entry.load()
        except ImportError as error:  # a broken plugin must not take the library's own commands down
            typer.echo(f"warning: command {entry.name!r} unavailable: {error}", err=True)
            continue
        if isinstance(command, typer.Typer):
            target.add_typer(command, name=entry.name)
        else:
            target.command(name=entry.name)(command)


def main() -> None:
    add_plugin_commands(app)
    app(prog_name="tryon")


if __name__ == "__main__":
    sys.exit(main())
