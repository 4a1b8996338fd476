"""``translate --conserve-flux``: the total flux of an output against its input, read by rows."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

import numpy as np

from astroi2i.errors import InputError
from astroi2i.io.stream import ImageSource

__all__ = ["total_flux_ratio"]


def total_flux_ratio(output, inputs: Sequence, *, rows: int = 512) -> list[float]:
    """Σ output / Σ input per output band, over pixels valid in both (read by rows, so any
    size works). The input band paired with output band c is input band c, or the only input
    band. For per-pixel flux units a flux-conserving model gives 1 whatever its scale factor;
    for surface brightness the ratio of sums is f² (compare means instead)."""
    with ExitStack() as stack:
        out = stack.enter_context(ImageSource(output))
        sources = [stack.enter_context(ImageSource(p)) for p in inputs]
        n_in = sum(s.n_bands for s in sources)
        if n_in not in (1, out.n_bands):
            raise InputError(
                f"{output}: {out.n_bands} output band(s) cannot be paired with "
                f"{n_in} input band(s) for a flux check"
            )
        height = sources[0].shape[0]
        f = out.shape[0] // height
        sums = np.zeros((2, out.n_bands))
        for y0 in range(0, height, rows):
            y1 = min(y0 + rows, height)
            x = np.concatenate([s.read_rows(y0, y1) for s in sources], axis=0)
            y = out.read_rows(y0 * f, y1 * f)
            blocks = y.reshape(out.n_bands, y1 - y0, f, -1, f)
            coarse = blocks.sum(axis=(2, 4))  # output flux per input pixel
            for c in range(out.n_bands):
                xc = x[c if n_in > 1 else 0]
                ok = np.isfinite(xc) & np.isfinite(coarse[c])
                sums[0, c] += coarse[c][ok].sum(dtype=np.float64)
                sums[1, c] += xc[ok].sum(dtype=np.float64)
    return [float(a / b) if b else float("nan") for a, b in sums.T]
