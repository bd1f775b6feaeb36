"""Try-on datasets in the VITON (CP-VTON) and VITON-HD layouts, and an in-RAM pack of one.

A sample is a dict (shapes for one sample; a DataLoader adds the batch dimension):

- ``person`` float (3, H, W) in [-1, 1]: the model photo
- ``parse`` int64 (H, W): LIP labels of the person
- ``keypoints`` float (18, 3): COCO-18 (x, y, confidence) in pixels, missing = (0, 0, 0)
- ``garment`` float (3, H, W) in [-1, 1]: the in-shop garment named in the pair
- ``garment_mask`` float (1, H, W) in {0, 1}
- ``person_name``, ``garment_name`` str: file names, e.g. "000003_0.jpg"

In the paired setting the garment in the pair is the one the person wears.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from PIL import Image
from torch.utils.data import Dataset

from tryon.data import formats
from tryon.data.formats import DataError

Sample = dict[str, Any]


@dataclass(frozen=True)
class Layout:
    """Where each kind of file lives in a split directory (X = person stem, Y = garment stem)."""

    name: str
    parse_dir: str
    pose_dir: str
    image_dir: str = "image"
    cloth_dir: str = "cloth"
    cloth_mask_dir: str = "cloth-mask"

    def required(self) -> tuple[str, ...]:
        return (self.image_dir, self.cloth_dir, self.cloth_mask_dir, self.parse_dir, self.pose_dir)


LAYOUTS = {
    "viton": Layout("viton", parse_dir="image-parse", pose_dir="pose"),
    "viton-hd": Layout("viton-hd", parse_dir="image-parse-v3", pose_dir="openpose_json"),
}


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Pairs file: one "<person>.jpg <cloth>.jpg" per line; blank lines are ignored."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing file")
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DataError(path, f"line {number}: expected '<person>.jpg <cloth>.jpg', got {line.strip()!r}")
        pairs.append((fields[0], fields[1]))
    return pairs


def detect_layout(split_dir: str | Path) -> str:
    """ "viton" or "viton-hd", from which folders ``split_dir`` holds."""
    split_dir = Path(split_dir)
    missing = {name: _missing_parts(split_dir, layout) for name, layout in LAYOUTS.items()}
    complete = [name for name, parts in missing.items() if not parts]
    if len(complete) == 1:
        return complete[0]
    if complete:
        raise DataError(split_dir, "matches both the VITON and VITON-HD layouts: pass layout= explicitly")
    described = "; ".join(f"{name} layout misses {', '.join(parts)}" for name, parts in missing.items())
    raise DataError(split_dir, f"not a known dataset layout ({described})")


def _missing_parts(split_dir: Path, layout: Layout) -> list[str]:
    missing = [f"{name}/" for name in layout.required() if not (split_dir / name).is_dir()]
    pose_dir = split_dir / layout.pose_dir
    if pose_dir.is_dir() and next(pose_dir.glob("*_keypoints.json"), None) is None:
        missing.append(f"{layout.pose_dir}/*_keypoints.json")
    return missing


def _stem(name: str) -> str:
    return Path(name).stem


def pairs_mode(pairs: Sequence[tuple[str, str]]) -> str:
    """ "paired" if every person is paired with its own garment (000003_0 / 000003_1), else "unpaired"."""
    own = all(_stem(p).rsplit("_", 1)[0] == _stem(c).rsplit("_", 1)[0] for p, c in pairs)
    return "paired" if own else "unpaired"


class TryOnDataset(Dataset):
    """One split of a VITON / VITON-HD dataset, read from files on each access.

    ``size`` is the expected (H, W) of every image; None accepts any size, but the files of one sample
    must agree with its person photo. ``check`` verifies at construction that every file exists.
    ``augment`` is applied to each sample read.
    """

    def __init__(
        self,
        split_dir: str | Path,
        pairs_file: str | Path,
        layout: str = "auto",
        size: tuple[int, int] | None = None,
        augment: Callable[[Sample], Sample] | None = None,
        check: bool = False,
    ) -> None:
        self.split_dir = Path(split_dir)
        if not self.split_dir.is_dir():
            raise DataError(self.split_dir, "missing directory")
        if layout == "auto":
            layout = detect_layout(self.split_dir)
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}: expected auto, {', '.join(LAYOUTS)}")
        self.layout = layout
        self.size = tuple(size) if size is not None else None
        self.augment = augment
        self.pairs = read_pairs(pairs_file)
        self.mode = pairs_mode(self.pairs)
        if check:
            self.check_files()

    def __len__(self) -> int:
        return len(self.pairs)

    def paths(self, index: int) -> dict[str, Path]:
        """The five files of sample ``index``."""
        person, garment = self.pairs[index]
        layout, root = LAYOUTS[self.layout], self.split_dir
        person_stem, garment_stem = _stem(person), _stem(garment)
        return {
            "person": root / layout.image_dir / person,
            "parse": root / layout.parse_dir / f"{person_stem}.png",
            "keypoints": root / layout.pose_dir / f"{person_stem}_keypoints.json",
            "garment": root / layout.cloth_dir / garment,
            "garment_mask": root / layout.cloth_mask_dir / f"{garment_stem}.jpg",
        }

    def check_files(self) -> None:
        """Raise DataError naming the first missing file and how many are missing."""
        missing = [path for index in range(len(self)) for path in self.paths(index).values() if not path.is_file()]
        if missing:
            raise DataError(missing[0], f"missing file (and {len(missing) - 1} more missing in {self.split_dir})")

    def load_compact(self, index: int) -> Sample:
        """Sample ``index`` without augmentation, in compact form: images/masks/parse uint8, keypoints float32."""
        paths = self.paths(index)
        person = formats.read_image_uint8(paths["person"], self.size)
        size = tuple(person.shape[-2:])  # the rest of the sample must match the person photo
        return {
            "person": person,
            "parse": formats.read_parse_uint8(paths["parse"], self.layout, size),
            "keypoints": formats.read_keypoints(paths["keypoints"]),
            "garment": formats.read_image_uint8(paths["garment"], size),
            "garment_mask": formats.read_mask_uint8(paths["garment_mask"], size),
            "person_name": self.pairs[index][0],
            "garment_name": self.pairs[index][1],
        }

    def __getitem__(self, index: int) -> Sample:
        sample = expand_sample(self.load_compact(index))
        return self.augment(sample) if self.augment is not None else sample


def expand_sample(compact: Sample) -> Sample:
    """Compact sample (uint8 tensors) -> the float/int64 sample format."""
    return {
        "person": formats.image_to_float(compact["person"]),
        "parse": compact["parse"].long(),
        "keypoints": compact["keypoints"].float(),
        "garment": formats.image_to_float(compact["garment"]),
        "garment_mask": compact["garment_mask"].float(),
        "person_name": compact["person_name"],
        "garment_name": compact["garment_name"],
    }


TENSOR_KEYS = ("person", "parse", "keypoints", "garment", "garment_mask")


class InMemoryDataset(Dataset):
    """Every sample of a dataset decoded once and kept in RAM as compact tensors.

    RAM per sample at 256x192: about 0.4 MB (uint8 images, mask and parse; float32 keypoints). Samples
    come back in the float format of :class:`TryOnDataset`, with ``augment`` applied on each access
    (default: the source dataset's augmenter). All samples must share one size.
    """

    def __init__(
        self,
        source: TryOnDataset,
        augment: Callable[[Sample], Sample] | None = None,
        progress: bool = False,
    ) -> None:
        indices = range(len(source))
        if progress:
            from tqdm import tqdm

            indices = tqdm(indices, desc=f"decoding {source.split_dir}", unit="sample")
        samples = [source.load_compact(index) for index in indices]
        if not samples:
            raise DataError(source.split_dir, "no samples to hold in memory (empty pairs file)")
        self._init_from(_stack(samples, source.split_dir), augment if augment is not None else source.augment)
        self.layout, self.mode = source.layout, source.mode

    def _init_from(self, stacked: dict[str, Any], augment: Callable[[Sample], Sample] | None) -> None:
        self.tensors: dict[str, torch.Tensor] = {key: stacked[key] for key in TENSOR_KEYS}
        self.person_names: list[str] = list(stacked["person_name"])
        self.garment_names: list[str] = list(stacked["garment_name"])
        self.augment = augment

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.tensors["person"].shape[-2:])

    def __len__(self) -> int:
        return len(self.person_names)

    def compact(self, index: int) -> Sample:
        sample: Sample = {key: self.tensors[key][index] for key in TENSOR_KEYS}
        sample["person_name"], sample["garment_name"] = self.person_names[index], self.garment_names[index]
        return sample

    def __getitem__(self, index: int) -> Sample:
        sample = expand_sample(self.compact(index))
        return self.augment(sample) if self.augment is not None else sample

    def save(self, path: str | Path, image_codec: str = "webp", quality: int = 80) -> Path:
        """Write the pack: tensors to ``path`` (safetensors), names and codecs to ``path`` .json beside it.

        ``image_codec`` for person and garment: "webp" (lossy at ``quality``; at 80 about a third smaller
        than VITON's source JPEGs, mean error about 1/255: the default, to carry a pack to another
        machine), "png" (lossless, about 4x the JPEGs) or "raw" (uint8 arrays, exact, 0.3 MB a sample at
        256x192). Masks, parse maps and keypoints are always stored exactly. Returns the JSON path.
        """
        return save_pack(self, Path(path), image_codec, quality)

    @classmethod
    def load(cls, path: str | Path, augment: Callable[[Sample], Sample] | None = None) -> InMemoryDataset:
        """Read a pack written by :meth:`save` (decoded once into RAM)."""
        stacked, meta = load_pack(Path(path))
        dataset = cls.__new__(cls)
        dataset._init_from(stacked, augment)
        dataset.layout, dataset.mode = meta["layout"], meta["mode"]
        return dataset


def _stack(samples: list[Sample], where: Path) -> dict[str, Any]:
    first = samples[0]["person"].shape
    for sample in samples:
        if sample["person"].shape != first:
            raise DataError(
                where / sample["person_name"],
                f"wrong size: expected {first[-2]}x{first[-1]} like the first sample, "
                f"got {sample['person'].shape[-2]}x{sample['person'].shape[-1]}",
            )
    stacked: dict[str, Any] = {key: torch.stack([s[key] for s in samples]) for key in TENSOR_KEYS}
    stacked["person_name"] = [s["person_name"] for s in samples]
    stacked["garment_name"] = [s["garment_name"] for s in samples]
    return stacked


# --- the pack file: one safetensors file (no pickle) + a JSON sidecar -------------------------------------

PACK_FORMAT = "tryon-pack"
PACK_VERSION = 1
IMAGE_CODECS = ("webp", "png", "raw")


def pack_sidecar(path: Path) -> Path:
    """The JSON beside a pack: ``train.safetensors`` -> ``train.json``."""
    return path.with_suffix(".json")


def save_pack(dataset: InMemoryDataset, path: Path, image_codec: str = "webp", quality: int = 80) -> Path:
    if image_codec not in IMAGE_CODECS:
        raise ValueError(f"unknown image codec {image_codec!r}: expected one of {', '.join(IMAGE_CODECS)}")
    # Lossless and small: a mask is one bit a pixel; WebP's lossless mode packs label maps tighter than PNG.
    codecs = {"person": image_codec, "garment": image_codec, "garment_mask": "png-1bit", "parse": "webp-lossless"}
    tensors = {"keypoints": dataset.tensors["keypoints"].float().contiguous()}
    for key, codec in codecs.items():
        tensors.update(_encode_all(key, dataset.tensors[key], codec, quality))
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(tensors, str(path))
    meta = {
        "format": PACK_FORMAT,
        "version": PACK_VERSION,
        "layout": dataset.layout,
        "mode": dataset.mode,
        "size": list(dataset.size),
        "codecs": codecs,
        "person_names": dataset.person_names,
        "garment_names": dataset.garment_names,
    }
    sidecar = pack_sidecar(path)
    sidecar.write_text(json.dumps(meta) + "\n")
    return sidecar


def load_pack(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = _read_pack_meta(pack_sidecar(path))
    if not path.is_file():
        raise DataError(path, "missing file")
    try:
        tensors = safetensors.torch.load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for a damaged header
        raise DataError(path, f"unreadable pack ({error})") from error
    count = len(meta["person_names"])
    stacked: dict[str, Any] = {"keypoints": tensors["keypoints"]}
    for key, codec in meta["codecs"].items():
        stacked[key] = _decode_all(path, key, tensors, codec)
    if any(len(stacked[key]) != count for key in TENSOR_KEYS):
        raise DataError(path, f"pack holds a different number of samples than its sidecar ({count})")
    stacked["person_name"], stacked["garment_name"] = meta["person_names"], meta["garment_names"]
    return stacked, meta


def _read_pack_meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(path, "missing file")
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"invalid JSON ({error})") from error
    if not isinstance(meta, dict) or meta.get("format") != PACK_FORMAT:
        raise DataError(path, f"not a {PACK_FORMAT} sidecar")
    if meta.get("version") != PACK_VERSION:
        raise DataError(path, f"pack version {meta.get('version')} is not supported (expected {PACK_VERSION})")
    return meta


def _encode_all(key: str, stacked: torch.Tensor, codec: str, quality: int) -> dict[str, torch.Tensor]:
    """``{key: (N, ...) uint8}`` for raw; else every item encoded, concatenated, with N+1 offsets."""
    if codec == "raw":
        return {key: stacked.contiguous()}
    blobs = [_encode_one(item, codec, quality) for item in stacked]
    offsets = torch.tensor([0, *itertools.accumulate(len(blob) for blob in blobs)], dtype=torch.int64)
    data = torch.frombuffer(bytearray(b"".join(blobs)), dtype=torch.uint8)
    return {f"{key}.bytes": data, f"{key}.offsets": offsets}


def _encode_one(item: torch.Tensor, codec: str, quality: int) -> bytes:
    """One (3, H, W), (1, H, W) or (H, W) uint8 tensor as a file in memory."""
    array = (
        item.permute(1, 2, 0).numpy()
        if item.dim() == 3 and item.shape[0] == 3
        else item.reshape(item.shape[-2:]).numpy()
    )
    buffer = io.BytesIO()
    if codec == "webp":
        Image.fromarray(array).save(buffer, format="WEBP", quality=quality, method=4)
    elif codec == "webp-lossless":
        Image.fromarray(array).save(buffer, format="WEBP", lossless=True)
    elif codec == "png-1bit":
        Image.fromarray(array > 0).save(buffer, format="PNG")
    else:
        Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _decode_all(path: Path, key: str, tensors: dict[str, torch.Tensor], codec: str) -> torch.Tensor:
    if codec == "raw":
        if key not in tensors:
            raise DataError(path, f"pack lacks tensor {key!r}")
        return tensors[key]
    if f"{key}.bytes" not in tensors or f"{key}.offsets" not in tensors:
        raise DataError(path, f"pack lacks tensors {key}.bytes / {key}.offsets")
    data, offsets = tensors[f"{key}.bytes"].numpy(), tensors[f"{key}.offsets"].tolist()
    items = [_decode_one(path, key, data[start:end]) for start, end in itertools.pairwise(offsets)]
    # Masks were (1, H, W) and were stored as (H, W) images.
    return torch.stack(items).unsqueeze(1) if key == "garment_mask" else torch.stack(items)


def _decode_one(path: Path, key: str, blob: Any) -> torch.Tensor:
    try:
        image = Image.open(io.BytesIO(blob.tobytes()))
        image.load()
    except (OSError, ValueError) as error:
        raise DataError(path, f"unreadable {key} image in pack ({error})") from error
    if key in ("person", "garment"):
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1).contiguous()
    if image.mode == "1":  # a 1-bit mask reads as bool; converting to "L" would give 0/255
        return torch.from_numpy(np.asarray(image).astype(np.uint8))
    return torch.from_numpy(np.asarray(image.convert("L")).copy())  # lossless WebP returns grey as RGB
