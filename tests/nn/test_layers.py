"""The weight-bound CPU route of astroi2i's Conv2d / ConvTranspose2d: same values and gradients
as the torch layers, taken only where it is meant to be."""

import pytest
import torch
from torch import nn

from astroi2i.nn.layers import Conv2d, ConvTranspose2d

HALVE = dict(kernel_size=4, stride=2, padding=1)  # pix2pix's down and up layers
SAME = dict(kernel_size=3, stride=1, padding=1)
T, TORCH_T = ConvTranspose2d, nn.ConvTranspose2d
CASES = [
    # (ours, torch's, layer arguments, input shape, takes the GEMM route)
    (Conv2d, nn.Conv2d, HALVE, (1, 6, 2, 2), True),
    (Conv2d, nn.Conv2d, HALVE, (3, 6, 4, 6), True),
    (Conv2d, nn.Conv2d, SAME, (2, 6, 5, 3), True),
    (Conv2d, nn.Conv2d, HALVE, (1, 6, 18, 18), False),
    (T, TORCH_T, HALVE, (1, 6, 1, 1), True),
    (T, TORCH_T, HALVE, (3, 6, 2, 5), True),
    (T, TORCH_T, dict(kernel_size=3, stride=1, padding=0), (2, 6, 4, 4), True),
    (T, TORCH_T, HALVE, (1, 6, 9, 8), False),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("ours", "theirs", "kwargs", "shape", "gemm"), CASES)
def test_same_values_and_gradients_as_torch(ours, theirs, kwargs, shape, gemm, bias):
    torch.manual_seed(0)
    a, b = ours(6, 5, bias=bias, **kwargs), theirs(6, 5, bias=bias, **kwargs)
    b.load_state_dict(a.state_dict())  # same parameters and state-dict keys
    xa = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    xb = xa.detach().clone().requires_grad_()
    a.double(), b.double()
    ya, yb = a(xa), b(xb)
    assert ("Gemm" in type(ya.grad_fn).__name__) is gemm
    assert ya.shape == yb.shape and ya.is_contiguous()
    grad = torch.randn_like(ya)
    ya.backward(grad), yb.backward(grad)
    torch.testing.assert_close(ya, yb, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(a.weight.grad, b.weight.grad, rtol=1e-10, atol=1e-10)
    if bias:
        torch.testing.assert_close(a.bias.grad, b.bias.grad, rtol=1e-10, atol=1e-10)


def test_no_input_gradient_when_the_input_needs_none():
    layer = Conv2d(4, 3, 4, stride=2, padding=1)
    x = torch.randn(1, 4, 4, 4)  # no requires_grad: only the weights get gradients
    layer(x).sum().backward()
    assert x.grad is None and layer.weight.grad.shape == layer.weight.shape


def test_large_batches_take_the_torch_route():
    """The route depends on N × pixels, not on the image alone."""
    layer = ConvTranspose2d(4, 3, 4, stride=2, padding=1)
    assert "Gemm" in type(layer(torch.randn(4, 4, 4, 4, requires_grad=True)).grad_fn).__name__
    assert "Gemm" not in type(layer(torch.randn(5, 4, 4, 4, requires_grad=True)).grad_fn).__name__


def test_string_padding_takes_the_torch_route():
    layer = Conv2d(4, 3, 3, padding="same")
    x = torch.randn(1, 4, 5, 5, requires_grad=True)
    out = layer(x)
    assert out.shape == (1, 3, 5, 5) and "Gemm" not in type(out.grad_fn).__name__
