"""How well could any σ rank a model's errors within an image? The oracles of
docs/uncertainty.md ("What an oracle reaches").

    python examples/sigma_oracle.py MODEL MANIFEST [--split test] [--n 150]

Translates the first N rows of the split (the manifest's columns named as the model's input
and target bands; paths relative to the manifest) and prints, as means over the images, the
Spearman correlation between |residual| and: the model's σ; its "ideal" (|σ·z|, z ~ N(0, 1):
what the same σ map reaches were it exactly right for independent errors); and two oracles
made from the true residuals themselves — the RMS residual of the 8 neighbours (the pixel
left out) and the residual smoothed by Gaussians of 2, 3 and 5 px. An oracle far above 0.3
says the errors are smooth (which smooth noise also is); an oracle near the model's σ says no
σ from the neighbourhood can (e.g. white target noise). To tell the two apart, the "far"
oracles correct σ by the true residuals only from an annulus of radii a–b px around each pixel
(σ times the RMS of residual/σ there): beyond the residual's correlation length (its
autocorrelation at 8, 12, 16 px is printed) they see the error's envelope, how large the errors
are around a pixel, but not its phase, where within that envelope they are large. Physical units;
targets larger than the prediction are cut onto its grid by CRPIX (STIX's 257² CLEAN maps).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import ndimage, stats

from astroi2i.io import read_image
from astroi2i.sky.geometry import crop_to_grid
from astroi2i.workflows.model import load_model
from astroi2i.workflows.translate import translate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=150)
    args = parser.parse_args()
    loaded = load_model(args.model, device="cpu")
    desc = loaded[1]
    with args.manifest.open() as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == args.split][: args.n]
    root, rng, ring = args.manifest.parent, np.random.default_rng(0), np.ones((3, 3)) / 8
    ring[1, 1] = 0
    annuli = [(8, 24), (12, 32), (16, 48)]
    names = ["sigma", "ideal", "neighbours", "smoothed 2 px", "smoothed 3 px", "smoothed 5 px",
             *(f"far {a}-{b} px" for a, b in annuli)]  # fmt: skip
    rho, acf = {name: [] for name in names}, []
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            inputs = [str(root / row[band]) for band in desc.input_bands]
            out = translate(args.model, inputs, Path(tmp) / "p.fits", loaded=loaded,
                            overwrite=True, device="cpu")  # fmt: skip
            pred = fits.getdata(out).astype(float)
            sigma = fits.getdata(out, "UNCERT").astype(float)
            target = read_image(root / row[desc.target_bands[0]])
            if target.shape != pred.shape[-2:]:
                target = crop_to_grid(target, read_image(out).wcs, pred.shape[-2:], mode="crpix")
            pred, sigma = pred.reshape(pred.shape[-2:]), sigma.reshape(pred.shape[-2:])
            signed = target.data[0].astype(float) - pred
            r = np.abs(signed)
            ok = np.isfinite(r) & np.isfinite(sigma) & (sigma > 0)
            r0 = np.where(ok, r, 0.0)
            acf.append(_autocorrelation(np.where(ok, signed, 0.0), (8, 12, 16)))
            maps = [sigma, np.abs(sigma * rng.standard_normal(sigma.shape)),
                    np.sqrt(ndimage.convolve(r0**2, ring)),
                    *(np.sqrt(ndimage.gaussian_filter(r0**2, w)) for w in (2, 3, 5)),
                    *(sigma * _annulus_rms(np.where(ok, r / np.where(ok, sigma, 1), 0), ok, a, b)
                      for a, b in annuli)]  # fmt: skip
            for name, m in zip(names, maps):
                x = sigma if name == "ideal" else r  # the ideal ranks |σ·z| against σ itself
                rho[name].append(stats.spearmanr(x[ok], m[ok]).statistic)
    print(f"{args.model}, {len(rows)} {args.split} images: mean Spearman(|residual|, ·) per image")
    for name in names:
        print(f"  {name:16s} {np.nanmean(rho[name]):.3f}")
    print("  the residual's autocorrelation at 8 / 12 / 16 px: "
          + " / ".join(f"{v:.2f}" for v in np.mean(acf, axis=0)))  # fmt: skip


def _annulus_rms(z: np.ndarray, ok: np.ndarray, inner: int, outer: int) -> np.ndarray:
    """The RMS of ``z`` over the valid pixels between radii ``inner`` and ``outer``."""
    from scipy.signal import fftconvolve

    y, x = np.mgrid[-outer : outer + 1, -outer : outer + 1]
    d = np.hypot(x, y)
    kernel = ((d >= inner) & (d <= outer)).astype(float)
    total = fftconvolve(z**2, kernel, mode="same")
    count = fftconvolve(ok.astype(float), kernel, mode="same")
    return np.sqrt(np.clip(total, 0, None) / np.maximum(count, 1.0))


def _autocorrelation(signed: np.ndarray, lags) -> list[float]:
    """The residual's normalised autocorrelation along x at each lag (periodic, FFT)."""
    f = np.fft.fft2(signed - signed.mean())
    a = np.real(np.fft.ifft2(np.abs(f) ** 2))
    return [float(a[0, lag] / a[0, 0]) for lag in lags]


if __name__ == "__main__":
    main()
