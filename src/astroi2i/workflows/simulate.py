"""``astroi2i simulate survey-pair``: LR/HR training pairs from sharp FITS images through the
physical degradation simulator (:mod:`astroi2i.sources.degrade`), with a manifest."""

from __future__ import annotations

from pathlib import Path

from astroi2i.errors import InputError
from astroi2i.io.fits import read_image, write_image
from astroi2i.io.folders import require_empty_folder
from astroi2i.io.manifest import write_manifest
from astroi2i.sky.regions import assign_splits
from astroi2i.sources.degrade import Degradation, degrade

__all__ = ["simulate_pairs"]


def simulate_pairs(
    images: list,
    out,
    degradation: Degradation,
    *,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write ``OUT/<split>/<name>_lr.fits`` and ``_hr.fits`` for every input image and a
    manifest with columns split, id, lr, hr. Splits are dealt per input file (seeded), so
    every image is entirely in one split."""
    out = Path(out)
    require_empty_folder(out, overwrite=overwrite)
    if degradation.factor < 1:
        raise InputError(f"--factor must be ≥ 1, got {degradation.factor}")
    paths = [Path(str(p)) for p in images]
    names = [p.name.split(".")[0] for p in paths]
    if len(set(names)) != len(names):
        raise InputError("input images must have distinct file names (they become sample ids)")
    splits = assign_splits(names, fractions or {"train": 0.8, "val": 0.1, "test": 0.1}, seed=seed)
    loaded = [read_image(p) for p in paths]  # all inputs are checked before anything is written
    rows = []
    for i, (name, image, split) in enumerate(zip(names, loaded, splits)):
        low, high = degrade(image, degradation, seed=seed + i)
        provenance = {
            "task": "simulate survey-pair",
            "source": paths[i].name,
            "degradation": repr(degradation).replace("\n", " ")[:300],
        }
        row = {"split": split, "id": name}
        for column, img in (("lr", low), ("hr", high)):
            path = out / split / f"{name}_{column}.fits"
            write_image(
                img.replace(bands=(column,) * img.n_bands if img.n_bands == 1 else img.bands),
                path,
                provenance=provenance,
                overwrite=overwrite,
            )
            row[column] = str(path.relative_to(out))
        rows.append(row)
    return write_manifest(rows, out / "manifest.csv", overwrite=True)
