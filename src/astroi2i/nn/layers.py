"""Small building blocks shared by generators and discriminators."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["norm_layer", "NORMS", "Conv2d", "ConvTranspose2d"]

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``batch`` (BatchNorm2d), ``instance`` (InstanceNorm2d with affine parameters, as
    CycleGAN uses) or ``none`` (Identity)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; known: {', '.join(NORMS)}")


# Convolutions whose weights dwarf their input (the innermost levels of a U-Net: 512–1024
# channels, 4×4 kernels, 1×1 … 8×8 pixels) are memory-bound; oneDNN handles them poorly on the
# CPU (~10–20 ms for what reading the weights once takes ~1 ms). For those, both layers below
# compute the same products as one GEMM each, laid out (pixels × features) so that the small
# dimension leads (MKL is several times slower for some shapes with the small dimension last),
# with im2col/col2im (F.unfold/F.fold) around them. Double backward is not supported on it.


def _gemm_route(layer: nn.Module, x: torch.Tensor, pixels: int) -> bool:
    """Whether ``layer`` takes the GEMM route for input ``x`` with ``pixels`` = N × (the
    smaller of its input and output pixel counts)."""
    return (
        pixels <= layer.gemm_max_pixels
        and x.device.type == "cpu"
        and layer.groups == 1
        and layer.dilation == (1, 1)
        and layer.padding_mode == "zeros"
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
        and not torch.onnx.is_in_onnx_export()
    )


def _rows(cols: torch.Tensor) -> torch.Tensor:
    """(N, F, L) → (N·L, F): one row per pixel."""
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def _columns(rows: torch.Tensor, n: int) -> torch.Tensor:
    """(N·L, F) → (N, F, L)."""
    return rows.reshape(n, -1, rows.shape[1]).transpose(1, 2)


class _GemmConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, kernel, stride, padding, out_size):
        n, c_out = x.shape[0], weight.shape[0]
        patches = _rows(F.unfold(x, kernel, padding=padding, stride=stride))  # (N·L, C_in·k²)
        flat = weight.reshape(c_out, -1)
        out = patches @ flat.t()  # (N·L, C_out)
        if bias is not None:
            out += bias
        ctx.save_for_backward(patches, weight)
        ctx.geometry = (x.shape, kernel, stride, padding, bias is not None)
        return _columns(out, n).reshape(n, c_out, *out_size).contiguous()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        patches, weight = ctx.saved_tensors
        in_shape, kernel, stride, padding, has_bias = ctx.geometry
        n, c_out = grad_out.shape[:2]
        g = _rows(grad_out.reshape(n, c_out, -1))  # (N·L, C_out)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_patches = g @ weight.reshape(c_out, -1)  # (N·L, C_in·k²)
            grad_x = F.fold(_columns(grad_patches, n), in_shape[-2:], kernel, padding=padding,
                            stride=stride)  # fmt: skip
        if ctx.needs_input_grad[1]:
            grad_w = (g.t() @ patches).reshape(weight.shape)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum(0)
        return grad_x, grad_w, grad_b, None, None, None, None


class _GemmConvTranspose(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, kernel, stride, padding):
        n, c_in, h, w = x.shape
        out_h = (h - 1) * stride[0] - 2 * padding[0] + kernel[0]
        out_w = (w - 1) * stride[1] - 2 * padding[1] + kernel[1]
        rows = _rows(x.reshape(n, c_in, h * w))  # (N·L, C_in)
        # each input pixel's kernel taps, (N·L, C_out·k²), scattered and summed by col2im
        taps = rows @ weight.reshape(c_in, -1)
        out = F.fold(_columns(taps, n), (out_h, out_w), kernel, padding=padding, stride=stride)
        if bias is not None:
            out += bias.view(1, -1, 1, 1)
        ctx.save_for_backward(rows, weight)
        ctx.geometry = (x.shape, kernel, stride, padding, bias is not None)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        rows, weight = ctx.saved_tensors
        in_shape, kernel, stride, padding, has_bias = ctx.geometry
        n, c_in = in_shape[:2]
        grad_x = grad_w = grad_b = None
        g = _rows(F.unfold(grad_out, kernel, padding=padding, stride=stride))  # (N·L, C_out·k²)
        if ctx.needs_input_grad[0]:
            grad_x = _columns(g @ weight.reshape(c_in, -1).t(), n).reshape(in_shape)
        if ctx.needs_input_grad[1]:
            grad_w = (rows.t() @ g).reshape(weight.shape)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` with a faster CPU route for weight-bound calls (see the note above).

    Same parameters, state-dict keys and results (up to float rounding) as the torch layer.
    Takes the GEMM route when the batch has at most :attr:`gemm_max_pixels` output pixels
    (N·H_out·W_out), the layer has one group and no dilation, the tensors are on the CPU and
    nothing is being traced, compiled or exported; otherwise it is the torch layer.
    """

    gemm_max_pixels = 64

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and isinstance(self.padding, tuple):  # not padding="same"/"valid"
            out_h = (x.shape[2] + 2 * self.padding[0] - self.kernel_size[0]) // self.stride[0] + 1
            out_w = (x.shape[3] + 2 * self.padding[1] - self.kernel_size[1]) // self.stride[1] + 1
            if _gemm_route(self, x, x.shape[0] * out_h * out_w):
                return _GemmConv.apply(x, self.weight, self.bias, self.kernel_size, self.stride,
                                       self.padding, (out_h, out_w))  # fmt: skip
        return super().forward(x)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` with a faster CPU route for weight-bound calls (see the note
    above): the 1024→512 4×4 layers of U-Net-256 on 2×2 … 8×8 inputs take ~80 ms per forward
    and backward through oneDNN, ~30 ms this way.

    Same parameters, state-dict keys and results (up to float rounding) as the torch layer.
    Takes the GEMM route when the batch has at most :attr:`gemm_max_pixels` input pixels
    (N·H·W), the layer has one group, no dilation and no output padding, the tensors are on the
    CPU and nothing is being traced, compiled or exported; otherwise it is the torch layer.
    """

    gemm_max_pixels = 64

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (
            output_size is None
            and self.output_padding == (0, 0)
            and x.dim() == 4
            and _gemm_route(self, x, x.shape[0] * x.shape[2] * x.shape[3])
        ):
            return _GemmConvTranspose.apply(
                x, self.weight, self.bias, self.kernel_size, self.stride, self.padding
            )
        return super().forward(x, output_size)
