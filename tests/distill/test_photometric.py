import numpy as np
import pytest
import torch

from distill.student.config import PhotometricConfig
from distill.student.photometric import photometric


def ramp() -> torch.Tensor:
    """``1 x 32 x 48``: a horizontal ramp from 0.1 to 0.6 (dark enough that shading by 1.4 is not clamped)."""
    return torch.linspace(0.1, 0.6, 48).expand(1, 32, 48).clone()


def test_the_defaults_are_the_mild_changes_every_released_student_was_trained_with():
    """Gain, offset and noise drawn from the generator in the order the earlier code drew them, so that
    a seed gives the batches it gave before the stronger changes existed."""
    image = ramp()
    rng = np.random.default_rng(5)
    gain, offset = rng.uniform(0.7, 1.3), rng.uniform(-0.1, 0.1)
    noise = rng.normal(0, rng.uniform(0, 0.02), image.shape).astype(np.float32)
    expected = (image * gain + offset + torch.from_numpy(noise)).clamp(0, 1)
    assert torch.equal(photometric(image, np.random.default_rng(5), PhotometricConfig()), expected)


def test_gamma_keeps_the_order_of_grey_values_and_shade_is_a_smooth_field():
    quiet = dict(gain=0, offset=0, noise=0)
    for seed in range(6):
        curved = photometric(ramp(), np.random.default_rng(seed), PhotometricConfig(**quiet, gamma=0.5))
        assert float(curved.diff(dim=-1).min()) > 0  # a monotone curve: no edge is made or removed
        field = photometric(ramp(), np.random.default_rng(seed), PhotometricConfig(**quiet, shade=0.4)) / ramp()
        assert 0.5 < float(field.min()) and float(field.max()) < 1.5
        assert float(field.diff(dim=-1).diff(dim=-1).abs().max()) < 0.01  # smooth: light, not texture
    changed = [photometric(ramp(), np.random.default_rng(seed), PhotometricConfig(**quiet, gamma=0.5, shade=0.4))
               for seed in range(6)]
    assert all(0 <= float(c.min()) and float(c.max()) <= 1 for c in changed)
    assert max(float((c - ramp()).abs().max()) for c in changed) > 0.1  # strong enough to matter
    assert torch.equal(photometric(ramp(), np.random.default_rng(3), PhotometricConfig(**quiet, gamma=0.5, shade=0.4)), changed[3])


def test_contrast_keeps_the_mean_and_blur_softens_an_edge():
    step = torch.zeros(1, 32, 48)
    step[..., 24:] = 1.0
    contrast = photometric(step * 0.5 + 0.25, np.random.default_rng(0), PhotometricConfig(gain=0, offset=0, noise=0, contrast=0.5))
    assert float(contrast.mean()) == pytest.approx(0.5, abs=1e-6)
    blurred = photometric(step, np.random.default_rng(0), PhotometricConfig(gain=0, offset=0, noise=0, blur=1.0))
    assert 0.05 < float(blurred[0, 16, 23]) < 0.5 < float(blurred[0, 16, 24]) < 0.95


def test_the_blur_is_drawn_as_before_by_default_and_spreads_an_edge_as_wide_as_blur_sigma_asks():
    """``blur_sigma`` at its default draws the sigma and builds the 7 px kernel the released students were
    trained with; a fixed sigma of 2.5 px spreads a step over about 5 sigma (10 % to 90 % rise: 2.56 sigma)."""
    from kornia.filters import gaussian_blur2d

    step = torch.zeros(1, 32, 48)
    step[..., 24:] = 1.0
    quiet = dict(gain=0, offset=0, noise=0, blur=1.0)
    rng = np.random.default_rng(4)
    rng.uniform(), rng.uniform()  # gain and offset, drawn even when off
    rng.random()  # the blur's coin
    sigma = rng.uniform(0.5, 1.5)
    expected = gaussian_blur2d(step[None], (7, 7), (sigma, sigma), border_type="reflect")[0]
    assert torch.allclose(photometric(step, np.random.default_rng(4), PhotometricConfig(**quiet)), expected, atol=1e-6)
    for fixed in (1.0, 2.5):
        edge = photometric(step, np.random.default_rng(0), PhotometricConfig(**quiet, blur_sigma=[fixed, fixed]))[0, 16]
        rise = int(((edge > 0.1) & (edge < 0.9)).sum())
        assert abs(rise - 2.56 * fixed) <= 1.5, (fixed, rise)
    with pytest.raises(ValueError, match="photometric.blur_sigma"):
        PhotometricConfig(blur_sigma=[2.0, 1.0])


def test_a_darker_exposure_keeps_fewer_grey_levels_and_the_order_of_the_rest():
    """``exposure``: at most that many stops darker and rounded to 8 bits, so a 256-level ramp keeps about a
    fraction ``2^-u`` of its levels and no two grey values swap order."""
    levels = torch.arange(256, dtype=torch.float32).div(255).expand(1, 4, 256).clone()
    quiet = dict(gain=0, offset=0, noise=0)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        factor = 2.0 ** -np.random.default_rng(seed).uniform(0, 3)
        dark = photometric(levels, rng, PhotometricConfig(**quiet, exposure=3))
        assert 0.125 <= float(dark.max()) <= 1.0 and float(dark.diff(dim=-1).min()) >= 0
        assert torch.equal(dark * 255, torch.round(dark * 255))  # 8 bits
        assert len(torch.unique(dark)) == pytest.approx(255 * factor + 1, abs=1)
    assert torch.equal(photometric(levels, np.random.default_rng(2), PhotometricConfig(**quiet)), levels)
    shares = [not torch.equal(photometric(levels, np.random.default_rng(seed), PhotometricConfig(**quiet, exposure=3, exposure_share=0.5)),
                              levels) for seed in range(40)]
    assert 10 < sum(shares) < 30  # about half the crops darkened, the others as they were


@pytest.mark.parametrize("key,value", [("gain", 1.0), ("gamma", -0.1), ("blur", 1.5), ("exposure", -1.0), ("exposure_share", 1.5)])
def test_out_of_range_settings_are_refused_with_their_name(key, value):
    with pytest.raises(ValueError, match=f"photometric.{key}"):
        PhotometricConfig(**{key: value})
