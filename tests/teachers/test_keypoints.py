import numpy as np
import torch
import torch.nn.functional as F

from teachers.config import DetectionConfig
from teachers.keypoints import extract_keypoints, strongest


def test_extraction_never_modifies_the_callers_map():
    heat = torch.rand(2, 20, 30)
    before = heat.clone()
    for radius in (0, 2):
        points = extract_keypoints(heat, 0.5, nms_radius=radius, border=4)
        assert torch.equal(heat, before)
        assert all(((p.xy >= 4) & (p.xy <= torch.tensor([25.0, 15.0]))).all() for p in points)


def test_subpixel_refinement_finds_the_vertex_of_a_parabolic_peak():
    """A separable quadratic bump peaking between pixels: the integer peak is the nearest pixel and the
    refined point is the vertex itself (the 3-point parabola fit is exact for a parabola)."""
    ys, xs = torch.meshgrid(torch.arange(20.0), torch.arange(30.0), indexing="ij")
    heat = (1 - 0.002 * ((xs - 12.3) ** 2 + (ys - 7.8) ** 2))[None]
    plain = extract_keypoints(heat, 0.0, 4, top_k=1)[0]
    refined = extract_keypoints(heat, 0.0, 4, top_k=1, subpixel=True)[0]
    assert plain.xy.tolist() == [[12.0, 8.0]]
    assert torch.allclose(refined.xy, torch.tensor([[12.3, 7.8]]), atol=1e-3)
    assert torch.equal(refined.scores, plain.scores)


def test_one_set_of_detection_defaults():
    assert DetectionConfig() == DetectionConfig(threshold=0.001, nms_radius=4)


def test_cpu_extraction_equals_max_pooling_nms_with_ties_in_raster_order():
    """The NumPy path on the CPU against the plain definition: max-pooling NMS, threshold, border, then a
    stable sort by score (equal scores, frequent in a map of few levels, in raster order), top-k."""
    heat = (torch.rand(1, 40, 50, generator=torch.Generator().manual_seed(0)) * 8).floor() / 8
    pooled = F.max_pool2d(heat[:, None], 5, stride=1, padding=2)[:, 0]
    ys, xs = torch.nonzero(((heat == pooled) & (heat > 0.3))[0], as_tuple=True)
    inside = (xs >= 3) & (xs < 47) & (ys >= 3) & (ys < 37)
    ys, xs = ys[inside], xs[inside]
    order = heat[0, ys, xs].argsort(descending=True, stable=True)[:25]
    points = extract_keypoints(heat, 0.3, nms_radius=2, top_k=25, border=3)[0]
    assert len(points) == 25
    assert points.xy.tolist() == torch.stack([xs[order], ys[order]], 1).float().tolist()
    assert torch.equal(points.scores, heat[0, ys[order], xs[order]])


def test_strongest_is_the_stable_sort_cut_to_top_k():
    """The partition shortcut gives exactly the stable descending sort's first ``top_k``, ties at the cut included."""
    rng = np.random.default_rng(0)
    for size, levels in ((0, 4), (5, 4), (300, 3), (3000, 16), (3000, 100000)):
        scores = (rng.integers(0, levels, size) / levels).astype(np.float32)
        for top_k in (None, 0, 1, 7, 300, 5000):
            assert np.array_equal(strongest(scores, top_k), np.argsort(-scores, kind="stable")[:top_k])
