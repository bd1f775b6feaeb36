import torch
import torch.nn.functional as F

from tryon.networks.tps import TPSWarp, control_grid, grid_smoothness, tps_warp


def smooth_image(h=32, w=24):
    # A smooth function sampled at pixel centres, so that every resolution shows the same picture.
    ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h * 3, (torch.arange(w) + 0.5) / w * 2, indexing="ij")
    return torch.stack([torch.sin(xs + ys), torch.cos(2 * xs), torch.sin(3 * ys)])[None]


def test_control_grid_spans_the_image_row_major():
    grid = control_grid(3)
    assert grid.shape == (1, 9, 2)
    assert torch.equal(grid[0, 0], torch.tensor([-1.0, -1.0]))
    assert torch.equal(grid[0, 1], torch.tensor([0.0, -1.0]))  # x varies fastest
    assert torch.equal(grid[0, 8], torch.tensor([1.0, 1.0]))


def test_identity_points_reproduce_the_image():
    image = smooth_image()
    grid = control_grid(5)
    assert torch.allclose(tps_warp(image, grid, grid), image, atol=1e-5)


def test_affine_points_match_grid_sample_with_the_same_affine_map():
    # Output pixel at normalised p samples the input at A p + t: the same map F.affine_grid builds.
    image = smooth_image()
    theta = torch.tensor([[[0.8, 0.1, 0.15], [-0.05, 0.9, -0.1]]])
    grid = control_grid(5)
    source = grid @ theta[:, :, :2].transpose(1, 2) + theta[:, :, 2][:, None]
    expected = F.grid_sample(image, F.affine_grid(theta, image.shape, align_corners=False), align_corners=False)
    assert torch.allclose(tps_warp(image, grid, source), expected, atol=1e-4)


def test_content_moves_from_source_to_target():
    # A bright blob at the source point must show up at the target point, not the other way round.
    h = w = 41
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    image = torch.exp(-((xs - 0.5) ** 2 + (ys - 0.5) ** 2) / 0.01)[None, None]
    grid = control_grid(5)
    shifted = tps_warp(image, grid, grid + 0.5)  # every target point takes the content 0.5 to its lower right
    peak = divmod(int(shifted.flatten().argmax()), w)
    assert abs(peak[0] - h // 2) <= 1 and abs(peak[1] - w // 2) <= 1


def test_one_set_of_points_warps_any_resolution_alike():
    points = control_grid(5) + 0.05 * torch.randn(1, 25, 2, generator=torch.Generator().manual_seed(0))
    small = tps_warp(smooth_image(32, 24), control_grid(5), points)
    large = tps_warp(smooth_image(128, 96), control_grid(5), points)
    difference = (F.interpolate(large, size=(32, 24), mode="area") - small).abs()
    assert difference.mean() < 0.01 and difference.max() < 0.1


def test_smoothness_is_zero_for_affine_grids_and_positive_for_folds():
    grid = control_grid(5)
    assert grid_smoothness(grid * 0.7 + 0.1, 5) < 1e-10
    folded = grid.clone()
    folded[0, 12] += torch.tensor([0.5, 0.0])
    assert grid_smoothness(folded, 5) > 1e-3


def test_module_wrapper_matches_function():
    image, points = smooth_image(), control_grid(5) * 0.9
    assert torch.allclose(TPSWarp(5)(image, points), tps_warp(image, control_grid(5), points))
