import pytest
import torch

from astroi2i.nn import PartialConv2d


@pytest.mark.parametrize("mask_channels", [1, 3])
@pytest.mark.parametrize("stride", [1, 2])
def test_equals_conv2d_with_a_full_mask(mask_channels, stride):
    torch.manual_seed(0)
    pconv = PartialConv2d(3, 5, 4, stride=stride, padding=1)
    conv = torch.nn.Conv2d(3, 5, 4, stride=stride, padding=1)
    conv.load_state_dict(pconv.state_dict())
    x = torch.randn(2, 3, 16, 16)
    out, mask = pconv(x, torch.ones(2, mask_channels, 16, 16))
    assert torch.equal(out, conv(x)) and bool((mask == 1).all())


def test_hole_shrinks_as_predicted():
    """A 5×5 hole under a 3×3 kernel (stride 1, padding 1) shrinks by one pixel per side per
    pass: 5×5 → 3×3 → 1×1 → gone."""
    pconv = PartialConv2d(1, 1, 3, padding=1)
    mask = torch.ones(1, 1, 11, 11)
    mask[..., 3:8, 3:8] = 0
    x = torch.randn(1, 1, 11, 11)
    expected_holes = [9, 1, 0]
    for holes in expected_holes:
        x, mask = pconv(x, mask)
        assert int((mask == 0).sum()) == holes
    assert mask.shape == (1, 1, 11, 11)


def test_renormalisation_and_bias_hand_computed():
    pconv = PartialConv2d(1, 1, 3, padding=1, bias=True)
    with torch.no_grad():
        pconv.weight.fill_(1.0)
        pconv.bias.fill_(0.5)
    x = torch.ones(1, 1, 5, 5)
    mask = torch.ones(1, 1, 5, 5)
    mask[0, 0, 2, 2] = 0  # the centre pixel is missing
    out, new = pconv(x, mask)
    # at the centre 8 of 9 taps are valid: sum = 8, scaled by 9/8 → 9, then + bias (unscaled)
    assert out[0, 0, 2, 2].item() == pytest.approx(9.0 + 0.5)
    # an interior neighbour also sees the hole: 8 valid taps → 9 + 0.5
    assert out[0, 0, 1, 1].item() == pytest.approx(9.5)
    # a corner sees 4 in-image taps, all valid: exactly 4 + 0.5, no border inflation
    assert out[0, 0, 0, 0].item() == pytest.approx(4.5)
    assert bool((new == 1).all())
    hole = torch.zeros(1, 1, 5, 5)
    out, new = pconv(x, hole)
    assert bool((out == 0).all()) and bool((new == 0).all())  # no valid input: 0, bias too


def test_stateless_and_gradients():
    pconv = PartialConv2d(2, 2, 3, padding=1)
    x = torch.randn(1, 2, 8, 8, requires_grad=True)
    m1 = (torch.rand(1, 1, 8, 8) > 0.3).float()
    a, _ = pconv(x, m1)
    pconv(x, torch.zeros(1, 1, 8, 8))  # another call must not change the next result
    b, _ = pconv(x, m1)
    assert torch.equal(a, b)
    b.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert bool((x.grad[0, :, m1[0, 0] == 0] == 0).all())  # invalid inputs get no gradient
    with pytest.raises(ValueError, match="mask has 3 channels"):
        pconv(x, torch.ones(1, 3, 8, 8))
