import math

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import torch

from tryon.metrics import InceptionFeatures, fid, kid, l1, mask_iou, psnr, resize_tf_bilinear, ssim


def _images(seed: int, batch: int = 2, height: int = 32, width: int = 24) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, height, width, generator=generator, dtype=torch.float64) * 2 - 1


def _reference_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al.'s SSIM of two (3,H,W) images in [0,1], written with scipy's Gaussian filter.

    truncate=5/1.5 makes scipy's window 11 taps wide; only positions whose window lies inside the image
    (5 pixels in from every edge) are averaged.
    """
    values = []
    for a, b in zip(x, y, strict=True):

        def blur(image):
            return scipy.ndimage.gaussian_filter(image, sigma=1.5, truncate=5 / 1.5)[5:-5, 5:-5]

        mu_a, mu_b = blur(a), blur(b)
        var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
        cov = blur(a * b) - mu_a * mu_b
        c1, c2 = 0.01**2, 0.03**2
        values.append(((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(values))


def test_ssim_of_identical_images_is_one():
    images = _images(0)
    assert torch.allclose(ssim(images, images), torch.ones(2, dtype=torch.float64))


def test_ssim_matches_independent_reference():
    x = _images(1)
    y = (x + 0.3 * _images(2)).clamp(-1, 1)
    expected = [_reference_ssim(((a + 1) / 2).numpy(), ((b + 1) / 2).numpy()) for a, b in zip(x, y, strict=True)]
    assert ssim(x, y).tolist() == pytest.approx(expected, abs=1e-6)
    assert all(0.5 < value < 0.99 for value in expected)  # neither identical nor unrelated


def test_ssim_rejects_images_smaller_than_the_window():
    with pytest.raises(ValueError, match="at least 11"):
        ssim(_images(0, height=8), _images(1, height=8))


def test_psnr_and_l1_on_unit_range():
    x = torch.full((1, 3, 16, 16), -1.0)
    y = x.clone()
    y[..., :8, :] = 1.0  # half the pixels differ by the full range 1 on [0, 1]: MSE 0.5, L1 0.5
    assert psnr(x, y).item() == pytest.approx(10 * math.log10(2))
    assert l1(x, y).item() == pytest.approx(0.5)
    assert psnr(x, x).item() == pytest.approx(100.0)
    assert l1(x, x).item() == 0.0


def test_mask_iou_counts_and_empty_masks():
    a = torch.zeros(3, 1, 4, 4)
    b = torch.zeros(3, 1, 4, 4)
    a[0, :, :2] = 1  # 8 pixels
    b[0, :, 1:3] = 1  # 8 pixels, 4 shared
    a[1, :, :2] = 1  # against an empty mask
    assert mask_iou(a, b).tolist() == pytest.approx([4 / 12, 0.0, 1.0])


def test_resize_tf_bilinear_samples_input_at_scaled_positions():
    ramp = torch.arange(8, dtype=torch.float64).view(1, 1, 1, 8).expand(1, 1, 2, 8)
    # TF1 ResizeBilinear (no half-pixel centres): output j reads input j * 8/4 = 0, 2, 4, 6.
    assert resize_tf_bilinear(ramp, (2, 4))[0, 0, 0].tolist() == pytest.approx([0, 2, 4, 6])
    # Upsampling: j * 8/16 = 0, 0.5, ..., clamped at the last input pixel.
    assert resize_tf_bilinear(ramp, (2, 16))[0, 0, 0].tolist() == pytest.approx([j / 2 for j in range(15)] + [7.0])


def _gaussian_features(seed: int, count: int = 400, dim: int = 8) -> np.ndarray:
    """Samples of one correlated Gaussian (the mixing matrix is fixed); ``seed`` picks the samples."""
    mixing = np.random.default_rng(1000).normal(size=(dim, dim)) / math.sqrt(dim)
    return np.random.default_rng(seed).normal(size=(count, dim)) @ mixing


def _reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The usual formula (pytorch-fid): scipy's general matrix square root of the product."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sigma_a + sigma_b - 2 * covmean))


def test_fid_of_a_set_with_itself_is_zero():
    features = _gaussian_features(0)
    assert fid(features, features) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_shifted_set_is_squared_mean_distance():
    features = _gaussian_features(1)
    shift = np.arange(8) / 4.0
    assert fid(features, features + shift) == pytest.approx((shift**2).sum(), rel=1e-8)


def test_fid_matches_scipy_sqrtm_reference():
    a = _gaussian_features(2)
    b = 1.5 * _gaussian_features(3) + 0.2
    assert fid(a, b) == pytest.approx(_reference_fid(a, b), rel=1e-6)
    assert fid(a, b) > 0.1


def test_fid_of_fewer_samples_than_dimensions_matches_eigenvalue_reference():
    small_a, small_b = _gaussian_features(4, count=5, dim=16), 2 * _gaussian_features(5, count=6, dim=16)
    sigma_a, sigma_b = np.cov(small_a, rowvar=False), np.cov(small_b, rowvar=False)
    # tr((S_a S_b)^½) as the sum of square roots of the product's (real, non-negative) eigenvalues.
    trace_sqrt = np.sqrt(np.linalg.eigvals(sigma_a @ sigma_b).real.clip(min=0)).sum()
    mean_term = ((small_a.mean(0) - small_b.mean(0)) ** 2).sum()
    expected = mean_term + np.trace(sigma_a) + np.trace(sigma_b) - 2 * trace_sqrt
    assert fid(small_a, small_b) == pytest.approx(expected, rel=1e-6)
    assert fid(small_a[:1], small_b[:1]) == pytest.approx(((small_a[0] - small_b[0]) ** 2).sum())


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    a, same, other = _gaussian_features(6), _gaussian_features(7), _gaussian_features(8) + 1.0
    mean_same, std_same = kid(a, same, subsets=20, subset_size=100)
    mean_other, _ = kid(a, other, subsets=20, subset_size=100)
    assert abs(mean_same) < 0.05 and std_same > 0
    assert mean_other > 0.5
    assert abs(kid(a, a, subsets=5)[0]) < 0.05


def test_kid_is_seeded_and_clips_subset_size():
    a, b = _gaussian_features(9, count=30), _gaussian_features(10, count=20)
    assert kid(a, b, subsets=10, subset_size=1000) == kid(a, b, subsets=10, subset_size=1000)
    with pytest.raises(ValueError, match="at least 2"):
        kid(a[:1], b[:1])


def test_inception_features_of_small_images():
    features = InceptionFeatures()(_images(11, height=64, width=48).float())
    assert features.shape == (2, 2048) and features.dtype == torch.float64
    assert torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1])
