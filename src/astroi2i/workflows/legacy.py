"""``astroi2i import-panels``: migrate a pix2pix-style data set where K survey images of one
object were pasted side by side into one image (the multi-survey seed's PNG screenshots) into
per-survey FITS files and a manifest.

8-bit screenshots have lost the data's dynamic range and physical units for good: values
become 0–1 (PNG) or 0–255 (JPEG) display levels, with no WCS. The files this writes say so in
their HISTORY; re-fetching the surveys as FITS (``astroi2i fetch``) is the real fix.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from astroi2i.errors import InputError
from astroi2i.io.fits import read_image, write_image
from astroi2i.io.folders import require_empty_folder
from astroi2i.io.image import SkyImage
from astroi2i.io.manifest import write_manifest
from astroi2i.sky.regions import assign_splits

__all__ = ["import_panels", "read_panel_image"]

log = logging.getLogger(__name__)
DISPLAY_SUFFIXES = (".png", ".jpg", ".jpeg")
LOSSY_NOTE = "from an 8-bit screenshot: dynamic range and physical units are lost"


def read_panel_image(path: Path) -> tuple[np.ndarray, bool]:
    """(C, H, W) float32 pixels of a PNG/JPEG (display levels, RGB kept as 3 channels) or of a
    FITS image; the flag says whether they came from a display format."""
    if path.suffix.lower() in DISPLAY_SUFFIXES:
        import matplotlib.image

        try:
            pixels = np.asarray(matplotlib.image.imread(path), np.float32)
        except (OSError, ValueError, SyntaxError) as exc:
            raise InputError(f"{path}: not a readable image ({exc})") from None
        if pixels.ndim == 3:
            pixels = np.moveaxis(pixels[..., :3], -1, 0)  # drop alpha, channels first
        return (pixels[None] if pixels.ndim == 2 else pixels), True
    return read_image(path).data, False


def import_panels(
    images: list,
    names: list[str],
    out,
    *,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Split each image into ``len(names)`` equal-width panels, write each panel as FITS
    (``OUT/<split>/<stem>_<name>.fits``) and a manifest with one column per name. Splits are
    dealt per source image (seeded)."""
    out = Path(out)
    if len(names) < 2:
        raise InputError("--names: give one name per panel (at least two)")
    require_empty_folder(out, overwrite=overwrite)
    paths = [Path(p) for p in images]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise InputError("input images must have distinct file names (they become sample ids)")
    splits = assign_splits(stems, fractions or {"train": 0.8, "val": 0.1, "test": 0.1}, seed=seed)
    rows, lossy = [], 0
    for path, split in zip(paths, splits):
        pixels, display = read_panel_image(path)
        lossy += display
        width = pixels.shape[-1]
        if width % len(names):
            raise InputError(f"{path}: width {width} is not divisible into {len(names)} panels")
        step = width // len(names)
        row = {"split": split, "id": path.stem}
        for k, name in enumerate(names):
            panel = pixels[:, :, k * step : (k + 1) * step]
            bands = (
                (name,)
                if panel.shape[0] == 1
                else tuple(f"{name}_{c}" for c in "RGB"[: panel.shape[0]])
            )
            target = out / split / f"{path.stem}_{name}.fits"
            notes = {
                "task": "import-panels",
                "source": path.name,
                "panel": f"{k + 1} of {len(names)}",
            }
            if display:
                notes["warning"] = LOSSY_NOTE
            write_image(
                SkyImage(panel, None, bands=bands), target, provenance=notes, overwrite=overwrite
            )
            row[name] = str(target.relative_to(out))
        rows.append(row)
    if lossy:
        log.warning("%d of %d inputs are 8-bit display images: %s", lossy, len(paths), LOSSY_NOTE)
    return write_manifest(rows, out / "manifest.csv", overwrite=True)
