import math

import numpy as np
import torch
from kornia.geometry.transform import warp_perspective

from teachers.adaptation import AdaptationConfig, homographic_adaptation, valid_views
from teachers.homographies import HomographyConfig, sample_homographies, warp_maps, warp_points


def test_first_homography_is_identity_and_seeds_reproduce():
    a = sample_homographies(5, 120, 160, HomographyConfig(), seed=3)
    b = sample_homographies(5, 120, 160, HomographyConfig(), seed=3)
    c = sample_homographies(5, 120, 160, HomographyConfig(), seed=4)
    assert torch.equal(a[0], torch.eye(3))
    assert torch.equal(a, b) and not torch.equal(a[1:], c[1:])


def test_no_perturbation_maps_centred_patch_to_frame():
    plain = HomographyConfig(scaling_amplitude=0, perspective_amplitude=0, max_angle=0, translation=False)
    h = sample_homographies(2, 101, 201, plain, seed=0)[1]
    # the patch corner at 7.5% of each side goes to the warped frame's corner
    corner = torch.tensor([[0.075 * 200, 0.075 * 100], [0.925 * 200, 0.925 * 100]])
    assert torch.allclose(warp_points(corner, h), torch.tensor([[0.0, 0.0], [200.0, 100.0]]), atol=1e-3)


def test_point_map_warped_forth_and_back_returns_within_a_pixel():
    h, w = 96, 128
    homography = sample_homographies(2, h, w, HomographyConfig(max_angle=math.pi / 8), seed=1)[1]
    inside = torch.tensor([[60.0, 45.0], [64.0, 50.0], [70.0, 40.0]])
    grid = torch.zeros(1, 1, h, w)
    for x, y in inside.long():
        grid[0, 0, y, x] = 1.0
    warped = warp_perspective(grid, homography[None], (h, w), mode="nearest", align_corners=True)
    back = warp_perspective(warped, torch.linalg.inv(homography)[None], (h, w), mode="nearest", align_corners=True)
    ys, xs = torch.nonzero(back[0, 0] > 0.5, as_tuple=True)
    returned = torch.stack([xs, ys], 1).float()
    assert len(returned) >= len(inside)
    assert torch.cdist(inside, returned).min(dim=1).values.max() <= 1.0
    # and the points themselves: through H and H^-1 exactly
    assert torch.allclose(warp_points(warp_points(inside, homography), torch.linalg.inv(homography)), inside, atol=1e-3)


def test_identity_view_is_valid_everywhere_and_warps_lose_the_outside():
    hs = sample_homographies(4, 96, 128, HomographyConfig(), seed=0)
    valid = valid_views(hs, 96, 128, margin=3)
    assert valid[0].all()
    assert (valid[1:].float().mean(dim=(1, 2, 3)) < 1).all()


def test_one_homography_equals_the_raw_teacher(teacher, photo):
    result = homographic_adaptation(teacher, photo, AdaptationConfig(num_homographies=1), seed=0)
    raw = teacher(photo[None]).probability[0]
    # the identity warp resamples at exact pixel centres up to float rounding (~1e-5)
    assert torch.allclose(result.heatmap, raw, atol=1e-4)
    assert torch.equal(result.keypoints.xy, teacher.detect(photo[None], threshold=0.015, border=0)[0].xy)
    assert torch.count_nonzero(result.variance) == 0
    assert torch.all(result.count == 1)


def test_variance_is_positive_with_many_views(teacher, photo):
    result = homographic_adaptation(teacher, photo, AdaptationConfig(num_homographies=6), seed=0)
    assert result.variance.max() > 1e-3
    assert result.count.max() == 6 and result.count.min() >= 1
    again = homographic_adaptation(teacher, photo, AdaptationConfig(num_homographies=6), seed=0)
    assert torch.equal(result.heatmap, again.heatmap)


def test_strong_corner_survives_adaptation(teacher, photo):
    raw = teacher.detect(photo[None], threshold=0.015)[0]
    strongest = raw.xy[:3]
    adapted = homographic_adaptation(teacher, photo, AdaptationConfig(num_homographies=10), seed=0).keypoints
    distances = torch.cdist(strongest, adapted.xy).min(dim=1).values
    assert (distances <= 2).all(), distances


def test_max_aggregation_dominates_mean(teacher, photo):
    mean = homographic_adaptation(teacher, photo, AdaptationConfig(num_homographies=4), seed=0).heatmap
    top = homographic_adaptation(teacher, photo, AdaptationConfig(num_homographies=4, aggregation="max"), seed=0).heatmap
    assert np.all((top - mean).numpy() >= -1e-6)


def test_batched_views_give_the_labels_of_one_view_at_a_time(teacher, photo):
    """Batches of warps (``runtime.batch_size``; 4 leaves a partial last batch of 9 views, 9 is one batch) give the
    one-at-a-time loop's labels up to float rounding, and the same keypoints."""
    config = AdaptationConfig(num_homographies=9)
    loop = homographic_adaptation(teacher, photo, config, seed=3, batch_size=1)
    for batch_size in (4, 9):
        batched = homographic_adaptation(teacher, photo, config, seed=3, batch_size=batch_size)
        assert torch.allclose(batched.heatmap, loop.heatmap, atol=1e-5)
        assert torch.allclose(batched.variance, loop.variance, atol=1e-5)
        assert torch.equal(batched.count, loop.count)
        assert torch.equal(batched.keypoints.xy, loop.keypoints.xy)


def test_adapted_descriptors_sample_each_view_where_its_homography_takes_the_cell(teacher, photo, monkeypatch):
    """adapt_descriptors with the identity alone gives the cells' own descriptors. With the identity and a shift of
    the image by one cell to the right, cell ``(i, j)`` averages its own descriptor with the shifted view's cell
    ``(i, j + 1)``, which shows the same content: inside the image (away from the strip the shift brings in) the
    average is the cell's own descriptor, as a convolutional teacher is equivariant to shifts by its stride."""
    raw = teacher(photo[None]).descriptors[0]
    alone = homographic_adaptation(teacher, photo, AdaptationConfig(num_homographies=1), seed=0, adapt_descriptors=True)
    assert torch.allclose(alone.descriptors, raw, atol=1e-4)  # the identity warp resamples at pixel centres up to rounding
    shift = torch.stack([torch.eye(3), torch.tensor([[1.0, 0, 8], [0, 1, 0], [0, 0, 1]])])
    monkeypatch.setattr("teachers.adaptation.sample_homographies", lambda *args: shift)
    adapted = homographic_adaptation(teacher, photo, AdaptationConfig(num_homographies=2), seed=0, adapt_descriptors=True)
    assert adapted.descriptors.shape == raw.shape
    assert torch.allclose(adapted.descriptors.norm(dim=0), torch.ones(raw.shape[1:]), atol=1e-5)
    inner = (slice(4, -4), slice(6, -4))  # cells whose receptive field neither the new strip nor the frame reaches much
    agreement = (adapted.descriptors * raw).sum(0)[inner]
    assert agreement.mean() > 0.99
    opposite = (raw[:, :, 4:-6] * raw[:, :, 6:-4]).sum(0)[4:-4].mean()  # what sampling at H^-1 instead would average in
    assert opposite < 0.8
    assert not torch.equal(adapted.descriptors, raw)


def test_a_view_whose_horizon_crosses_the_image_leaves_no_nan(teacher, photo, monkeypatch):
    """A strong perspective view sends the pixels on its horizon (``h_31 x + h_32 y + 1 = 0``, here the line
    ``x + 2 y = 256``) to infinity, and the warp back returns NaN at some of them. Those pixels lie outside
    the view, and the labels (heatmap, variance, adapted descriptors) stay finite, as they did not at 2 of
    325 photos labelled at 384 x 512 with 100 views before the masking took them out."""
    horizon = torch.tensor([[1.0, 0, 0], [0, 1, 0], [-1 / 256, -1 / 128, 1]])
    back = warp_perspective(torch.ones(1, 1, 120, 160), torch.linalg.inv(horizon)[None], (120, 160), align_corners=True)
    lost = torch.isnan(back[0, 0])
    assert lost.any()  # what the masking must take out
    ys, xs = torch.nonzero(lost, as_tuple=True)
    assert torch.equal(xs + 2 * ys, torch.full_like(xs, 256))
    monkeypatch.setattr("teachers.adaptation.sample_homographies", lambda *args: torch.stack([torch.eye(3), horizon]))
    result = homographic_adaptation(teacher, photo, AdaptationConfig(num_homographies=2), seed=0, adapt_descriptors=True)
    assert all(torch.isfinite(t).all() for t in (result.heatmap, result.variance, result.descriptors))
    assert (result.count[lost] == 1).all() and result.count.max() == 2


def test_warp_maps_is_kornias_warp_with_the_horizons_nan_set_to_zero(photo):
    """Every warp of an image or a map (adaptation, training crops and their warps, LightGlue pairs, validation)
    goes through ``warp_maps``: where kornia's warp is finite it is the same, bit for bit; its NaN become 0."""
    horizon = torch.tensor([[1.0, 0, 0], [0, 1, 0], [-1 / 256, -1 / 128, 1]])
    for homography in (torch.linalg.inv(horizon), horizon):
        raw = warp_perspective(photo[None], homography[None], (120, 160), align_corners=True)
        safe = warp_maps(photo[None], homography[None], (120, 160))
        assert torch.isfinite(safe).all()
        finite = torch.isfinite(raw)
        assert torch.equal(safe[finite], raw[finite]) and (safe[~finite] == 0).all()
    assert torch.isnan(warp_perspective(photo[None], torch.linalg.inv(horizon)[None], (120, 160), align_corners=True)).any()
