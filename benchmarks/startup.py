"""Start-up of the command line: wall time of whole processes, median of ``--repeat``.

    python benchmarks/startup.py [--repeat 5]

- ``astroi2i --help`` (goal ≤ 0.5 s) and ``astroi2i inspect`` of a small FITS file: neither
  may import torch or Lightning (checked here from ``-X importtime``);
- a single small-file ``astroi2i translate`` with the packaged ``stix-bp2clean`` (a 64² map,
  model load, σ and FITS writing included; goal ≤ 3 s), for a header that states the observer
  (as STIX maps do) and for one that does not (then sunpy is imported to read it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _median(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _imports(cmd: list[str]) -> set[str]:
    run = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return {line.split("|")[-1].strip() for line in run.stderr.splitlines() if "|" in line}


def _bp(path: Path, observer: bool = True) -> Path:
    from astropy.io import fits
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype, w.wcs.cunit = ["HPLN-TAN", "HPLT-TAN"], ["arcsec", "arcsec"]
    w.wcs.crpix, w.wcs.cdelt, w.wcs.crval = [32.5, 32.5], [1.0, 1.0], [-500.0, 300.0]
    header = w.to_header()
    header.update(EXPTIME=60.0, BUNIT="ct / (cm2 keV)", DATE_OBS="2022-03-01T00:00:00")
    if observer:  # as simulate stix and STIX's own maps write it: no sunpy needed to read
        header.update(DSUN_OBS=0.5 * 1.495978707e11, HGLN_OBS=0.0, HGLT_OBS=0.0)
    y, x = np.mgrid[0:64, 0:64] - 31.5
    fits.PrimaryHDU((600 * np.exp(-0.5 * (x * x + y * y) / 25)).astype("f4"), header).writeto(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "astroi2i"]
    with tempfile.TemporaryDirectory() as tmp:
        bp = _bp(Path(tmp) / "bp.fits")
        bare = _bp(Path(tmp) / "bare.fits", observer=False)  # sunpy fills in the observer
        out = ["-o", str(Path(tmp) / "o.fits"), "--overwrite", "-q"]
        rows = [
            ("astroi2i --help", [*cli, "--help"], 0.5),
            ("astroi2i inspect bp.fits", [*cli, "inspect", str(bp)], None),
            ("translate, 64² map", [*cli, "translate", "stix-bp2clean", str(bp), *out], 3.0),
            ("translate, no observer (sunpy)",
             [*cli, "translate", "stix-bp2clean", str(bare), *out], None),
        ]  # fmt: skip
        for name, cmd, goal in rows:
            seconds = _median(cmd, args.repeat)
            heavy = ", ".join(sorted({"torch", "lightning", "sunpy"} & _imports(cmd)))
            print(f"{name:32s} {seconds:6.2f} s (median of {args.repeat})"
                  + (f", goal ≤ {goal} s" if goal else "")
                  + f"; imports {heavy or 'none of torch, lightning, sunpy'}")  # fmt: skip


if __name__ == "__main__":
    main()
