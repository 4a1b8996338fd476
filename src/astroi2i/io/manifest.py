"""Manifests: one row per sample, one column per band, read and written with astropy Tables.

A manifest has the columns ``split`` (train/val/test), ``id`` and one column per input or target
band group. Each cell is ``path`` or ``path:HDU``; relative paths are relative to the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from astropy.io.ascii import convert_numpy
from astropy.table import Table

from astroi2i.errors import InputError

__all__ = ["Manifest", "read_manifest", "write_manifest", "parse_cell"]

REQUIRED = ("split", "id")


def parse_cell(cell: str, base: Path) -> tuple[Path, str | None]:
    """Split ``path[:HDU]`` and resolve the path against ``base``."""
    text = str(cell).strip()
    head, sep, tail = text.rpartition(":")
    if sep and head and tail and "/" not in tail and not (base / text).exists():
        path, hdu = Path(head), tail
    else:
        path, hdu = Path(text), None
    return (path if path.is_absolute() else base / path), hdu


@dataclass(frozen=True)
class Manifest:
    """A validated manifest table and the folder its relative paths start from."""

    table: Table
    base: Path
    source: Path | None = None

    def rows(self, split: str | None = None) -> Table:
        if split is None:
            return self.table
        return self.table[self.table["split"] == split]

    def require_columns(self, columns) -> None:
        missing = [c for c in columns if c not in self.table.colnames]
        if missing:
            raise InputError(
                f"{self.source}: no column {', '.join(map(repr, missing))} "
                f"(columns: {', '.join(self.table.colnames)})"
            )

    def cell(self, row, column: str) -> tuple[Path, str | None]:
        return parse_cell(str(row[column]), self.base)


def read_manifest(path) -> Manifest:
    """Read a CSV or ECSV manifest. Raises InputError naming the file for a missing file, an
    unreadable table, missing ``split``/``id`` columns or duplicate ids."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: manifest not found")
    fmt = "ascii.ecsv" if path.suffix.lower() == ".ecsv" else "ascii.csv"
    # every CSV cell is text: ids such as 0004 and 007 and paths such as nan_g.fits stay
    # as written instead of being guessed into numbers
    kwargs = {} if fmt == "ascii.ecsv" else {"converters": {"*": [convert_numpy(str)]}}
    try:
        table = Table.read(path, format=fmt, **kwargs)
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds for a bad table
        raise InputError(f"{path}: not a readable {fmt[6:].upper()} table ({exc})") from None
    missing = [c for c in REQUIRED if c not in table.colnames]
    if missing:
        raise InputError(f"{path}: manifest needs columns {missing}; it has {table.colnames}")
    ids = [str(i) for i in table["id"]]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputError(f"{path}: duplicate values in column 'id' ({', '.join(duplicates[:3])})")
    return Manifest(table, path.parent.resolve(), path)


def write_manifest(rows: list[dict], path, *, overwrite: bool = False) -> Path:
    """Write rows (dicts with ``split``, ``id`` and band columns) as CSV or ECSV."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; pass overwrite=True to replace it")
    table = Table(rows=rows)
    fmt = "ascii.ecsv" if path.suffix.lower() == ".ecsv" else "ascii.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write(path, format=fmt, overwrite=True)
    return path
