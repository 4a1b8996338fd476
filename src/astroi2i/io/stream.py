"""Row-wise FITS access for images larger than memory: :class:`ImageSource` reads any rows of an
image HDU (tile-compressed too) without loading the rest, and :class:`FitsRowWriter` writes a
float32 image row block by row block into a file that appears only when it is complete."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

from astroi2i.errors import InputError
from astroi2i.io.fits import (
    _band_names,
    _select_hdu,
    fresh_cards,
    resolve_path,
    sky_metadata,
)
from astroi2i.io.image import SkyImage
from astroi2i.io.wcs_keys import check_wcs_keys

__all__ = ["ImageSource", "FitsRowWriter"]

#: primary-header keys that describe the HDU's layout or history, not the sky it shows
_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "BSCALE",
               "BZERO", "BLANK", "HISTORY", "COMMENT", "CHECKSUM", "DATASUM", "", "EXTNAME",
               "UTYPE"}  # fmt: skip


#: cards that astropy's WCS.to_header writes (valid by construction)
_ASTROPY_WCS = frozenset(
    ["WCSAXES", "LONPOLE", "LATPOLE", "MJDREF", "RADESYS", "EQUINOX", "MJD-OBS", "DATE-OBS",
     "MJD-AVG", "DATE-AVG", "RSUN_REF", "DSUN_OBS", "HGLN_OBS", "HGLT_OBS", "CRLN_OBS",
     "CRLT_OBS", "SPECSYS", "VELOSYS", "RESTFRQ", "RESTWAV"]
    + [f"{k}{i}" for k in ("CRPIX", "CDELT", "CUNIT", "CTYPE", "CRVAL", "CNAME") for i in (1, 2)]
    + [f"PC{i}_{j}" for i in (1, 2) for j in (1, 2)])  # fmt: skip


class ImageSource:
    """An image HDU opened for reading by rows.

    Attributes ``shape`` (H, W), ``n_bands``, ``wcs``, ``unit``, ``bands`` and ``header`` are
    those :func:`~astroi2i.io.read_image` would give; :meth:`read_rows` returns float32 rows
    (float64 for a float64 image: ``dtype``) with BZERO/BSCALE applied and NaN/BLANK as NaN.
    Use as a context manager (it holds the file open).
    """

    def __init__(self, source, hdu=None, bands=None) -> None:
        path, hdu = resolve_path(source, hdu)
        self.path = path
        self._hdul = None
        try:
            self._open(path, hdu, bands)
        except BaseException:
            if self._hdul is not None:
                self._hdul.close()
            raise

    def _open(self, path: Path, hdu, bands) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                # memmap=False: sections are then read by seeking, and scaled integers work
                self._hdul = fits.open(path, memmap=False)
                self._hdu = self._hdul[_select_hdu(self._hdul, hdu, path)]
                self.header = self._hdu.header.copy()
                check_wcs_keys(self.header, path)  # before anything reads a card
            except InputError:
                raise
            except (OSError, ValueError, TypeError, IndexError) as exc:
                raise InputError(f"{path}: not a readable FITS file ({exc})") from None
        if any("truncated" in str(w.message).lower() for w in caught):
            raise InputError(f"{path}: FITS file is truncated (data shorter than the header says)")
        info = self._hdu.fileinfo()
        if info and info["datLoc"] + info["datSpan"] > path.stat().st_size:
            raise InputError(
                f"{path}: FITS file is truncated (the header declares {info['datSpan']} bytes of "
                f"data, the file holds {max(path.stat().st_size - info['datLoc'], 0)})"
            )
        shape = tuple(self._hdu.shape)
        self._lead = 0
        while len(shape) - self._lead > 3 and shape[self._lead] == 1:
            self._lead += 1
        core = shape[self._lead :]
        if len(core) not in (2, 3):
            raise InputError(f"{path}: image has {len(core)} non-degenerate axes; 2 or 3 supported")
        self._cube = len(core) == 3
        self.n_bands = core[0] if self._cube else 1
        self.shape = (core[-2], core[-1])
        self.header, self.wcs, self.unit = sky_metadata(self.header, self._hdul, self.shape, path)
        self.bands = _band_names(self.header, self.n_bands, path, bands)
        self.dtype = np.float64 if self.header.get("BITPIX") == -64 else np.float32
        blank = self.header.get("BLANK")
        self._blank = blank if self.header.get("BITPIX", -32) > 0 and "BSCALE" not in self.header \
            and "BZERO" not in self.header else None  # fmt: skip

    def read_rows(self, y0: int, y1: int) -> np.ndarray:
        """Rows ``y0:y1`` (0-based) of every band: (C, y1 − y0, W) of ``dtype``, NaN where
        invalid."""
        index = (0,) * self._lead + ((slice(None),) if self._cube else ()) + (slice(y0, y1),)
        try:
            raw = np.asarray(self._hdu.section[index])
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"{self.path}: rows {y0}:{y1} could not be read ({exc})") from None
        data = raw.astype(self.dtype)
        if self._blank is not None and np.issubdtype(raw.dtype, np.integer):
            data[raw == self._blank] = np.nan
        return data if self._cube else data[None]

    def metadata(self) -> SkyImage:
        """A 1×1-pixel SkyImage carrying this source's WCS, unit, bands and header."""
        return SkyImage(np.zeros((self.n_bands, 1, 1), np.float32), None, self.unit,
                        bands=self.bands, header=self.header).replace(wcs=self.wcs)  # fmt: skip

    def close(self) -> None:
        self._hdul.close()

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FitsRowWriter:
    """Writes a float32 (or, with ``dtype=np.float64``, float64) (C, H, W) primary image block
    by block (in any row order).

    The header is :func:`~astroi2i.io.fits.fresh_header` of ``meta`` (a SkyImage whose data are
    ignored), verified as it is built (:meth:`layout`; a layout built ahead may be given
    instead of ``meta`` and ``shape``). Data go into a temporary file by positional writes, so
    memory stays bounded; :meth:`close` renames the file into place, :meth:`abort` removes it.

    Optional image extensions follow, in this order (astropy's CCDData conventions, so
    ``CCDData.read`` returns data, uncertainty and mask):

    - ``uncertainty``: header cards (a dict) for ``UNCERT``, a float32 (C, H, W) standard
      deviation in the primary's unit (``UTYPE = 'StdDevUncertainty'``), written by
      :meth:`write_uncert_rows`;
    - ``mask_extension``: ``MASK`` (uint8 H×W, 1 = flagged), written by
      :meth:`write_mask_rows` (e.g. the pixels an inpainting model filled).
    """

    def __init__(self, path, meta: SkyImage | None = None,
                 shape: tuple[int, int, int] | None = None, *, provenance=None,
                 overwrite: bool = False, mask_extension: bool = False,
                 dtype=np.float32, uncertainty: dict | None = None,
                 layout: list | None = None) -> None:  # fmt: skip
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path}: exists; pass overwrite=True (--overwrite)")
        if layout is None:  # else built ahead (the batch translator does it in its readers)
            layout = FitsRowWriter.layout(meta, shape, provenance=provenance, dtype=dtype,
                                          mask_extension=mask_extension,
                                          uncertainty=uncertainty)  # fmt: skip
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        # one descriptor and positional writes: a memory map per HDU cost two more opens and
        # the page faults of the map, ~0.5 ms of a 64² stamp's ~12 ms
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)  # Windows
        self._fd = os.open(self._tmp, flags, 0o666)
        self._at: dict[str, tuple] = {}  # HDU name → (data offset, big-endian dtype, shape)
        try:
            end = 0
            for name, head, kind, dims in layout:
                _write_all(self._fd, head, end)
                self._at[name] = (end + len(head), np.dtype(kind).newbyteorder(">"), dims)
                size = int(np.prod(dims)) * np.dtype(kind).itemsize
                end = end + len(head) + size + (-size) % 2880
            os.ftruncate(self._fd, end)
        except BaseException:
            self.abort()
            raise

    @staticmethod
    def layout(meta: SkyImage, shape: tuple[int, int, int], *, provenance=None,
               mask_extension: bool = False, dtype=np.float32,
               uncertainty: dict | None = None) -> list:  # fmt: skip
        """The file's HDUs as ``(name, header bytes, data dtype, data shape)``, in file
        order: the verified primary header and the extension headers (picklable)."""
        c, h, w = shape
        itemsize = np.dtype(dtype).itemsize
        if np.dtype(dtype).kind != "f" or itemsize not in (4, 8):
            raise ValueError(f"FitsRowWriter writes float32 or float64, not {dtype}")
        axes = [("NAXIS1", w), ("NAXIS2", h)] + ([("NAXIS3", c)] if c > 1 else [])
        # headers are rendered from card images: astropy's Header.append costs ~50 µs a card
        # in configuration look-ups, a large part of a small file's translation
        primary = [("SIMPLE", True, None), ("BITPIX", -8 * itemsize, None),
                   ("NAXIS", len(axes), None), *[(*a, None) for a in axes],
                   ("EXTEND", True, None)]  # fmt: skip
        taken = {k for k, _, _ in primary}
        cards = primary + [c for c in fresh_cards(meta, provenance) if _keyword(c) not in taken]
        images = [_image(c) for c in cards]
        hdus = [("PRIMARY", _render(images), f">f{itemsize}", shape)]
        # extensions repeat the image's WCS and observation keys: each one is a map of the
        # same sky on its own (sunpy.map.Map reads every HDU of a file)
        context = [(c, i) for c, i in zip(cards, images) if _keyword(c) not in _STRUCTURAL]
        image_ext = [("XTENSION", "IMAGE", "Image extension")]
        if uncertainty is not None:
            head = [*image_ext, ("BITPIX", -32, "array data type"),
                    ("NAXIS", len(axes), "number of array dimensions"), *[(*a, None) for a in axes],
                    ("PCOUNT", 0, "number of parameters"), ("GCOUNT", 1, "number of groups"),
                    ("EXTNAME", "UNCERT", "extension name"),
                    ("UTYPE", "StdDevUncertainty", "astropy.nddata uncertainty class")]  # fmt: skip
            # σ is in the image's unit: BUNIT stays among the context cards
            extra = [(k, *v) if isinstance(v, tuple) else (k, v, None)
                     for k, v in uncertainty.items()]  # fmt: skip
            notes = [c for c in extra if c[0] in ("COMMENT", "HISTORY")]  # go last
            extra = [c for c in extra if c not in notes] + notes
            ext = [_image(c) for c in head] + [i for _, i in context] + [_image(c) for c in extra]
            hdus.append(("UNCERT", _render(ext), ">f4", shape))
        if mask_extension:
            head = [*image_ext, ("BITPIX", 8, "array data type"),
                    ("NAXIS", 2, "number of array dimensions"), ("NAXIS1", w, None),
                    ("NAXIS2", h, None), ("PCOUNT", 0, "number of parameters"),
                    ("GCOUNT", 1, "number of groups"),
                    ("EXTNAME", "MASK", "extension name")]  # fmt: skip
            note = ("COMMENT", "1 = pixel filled by the model (not measured)", None)
            ext = [_image(c) for c in head] + [i for c, i in context if _keyword(c) != "BUNIT"]
            hdus.append(("MASK", _render([*ext, _image(note)]), np.uint8, (h, w)))
        return hdus

    def write_rows(self, y0: int, block: np.ndarray) -> None:
        """Write ``block`` (C, h, W) at rows ``y0:y0 + h``."""
        self._write("PRIMARY", y0, block)

    def write_uncert_rows(self, y0: int, block: np.ndarray) -> None:
        """Write a (C, h, W) block of the UNCERT extension at rows ``y0:y0 + h``."""
        self._write("UNCERT", y0, block)

    def write_mask_rows(self, y0: int, block: np.ndarray) -> None:
        """Write a (h, W) boolean block of the MASK extension at rows ``y0:y0 + h``."""
        self._write("MASK", y0, block[None])

    def _write(self, name: str, y0: int, block: np.ndarray) -> None:
        offset, kind, dims = self._at[name]
        height, width = dims[-2:]
        bands = dims[0] if len(dims) == 3 else 1
        if y0 < 0 or y0 + block.shape[1] > height or (block.shape[0], block.shape[2]) != (
                bands, width):  # fmt: skip
            raise ValueError(f"a {block.shape} block at row {y0} does not fit the {name} HDU "
                             f"({bands} × {height} × {width})")  # fmt: skip
        rows = np.ascontiguousarray(block, dtype=kind)
        for c in range(rows.shape[0]):  # FITS order: band by band, rows within a band
            _write_all(self._fd, rows[c], offset + (c * height + y0) * width * kind.itemsize)

    def _release(self) -> None:
        # closing hands the written pages to the page cache (what any write() does); an
        # fsync per file would add ~1 ms a file
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> Path:
        self._release()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._release()
        self._tmp.unlink(missing_ok=True)


def _write_all(fd: int, data, offset: int) -> None:
    """``os.pwrite`` until every byte of ``data`` (bytes or a C-contiguous array) is written
    (a seek and a write where there is no ``pwrite``, on Windows: the descriptor is the
    writer's own)."""
    view = memoryview(data).cast("B")
    while view:
        if hasattr(os, "pwrite"):
            written = os.pwrite(fd, view, offset)
        else:
            os.lseek(fd, offset, os.SEEK_SET)
            written = os.write(fd, view)
        view, offset = view[written:], offset + written


def _keyword(card) -> str:
    return card.keyword if isinstance(card, fits.Card) else card[0]


#: rendered card images by (keyword, type, repr of the value, comment): most cards of a batch
#: run's outputs (structure, σ calibration, bands, provenance) are the same in every file
_IMAGES: dict[tuple, str] = {}


def _image(card) -> str:
    """A card's image (80 characters, more with CONTINUE), verified: an astropy ``Card`` (a
    WCS's, valid by construction) as astropy renders it, a ``(keyword, value, comment)`` as
    ``fits.Card(keyword, value, comment)`` renders it after ``verify("exception")`` (values
    come from input headers and provenance), through a cache."""
    if isinstance(card, fits.Card):
        if card.keyword not in _ASTROPY_WCS:  # astropy's WCS cards need no second check
            card.verify("exception")
        return card.image
    key = (card[0], type(card[1]), repr(card[1]), card[2])
    image = _IMAGES.get(key)
    if image is None:
        made = fits.Card(*card)
        made.verify("exception")
        image = made.image
        if len(_IMAGES) < 4096:  # per-file values (DATE, input paths) need not fill memory
            _IMAGES[key] = image
    return image


def _render(images) -> bytes:
    """A header's bytes: the card images, END, blanks up to a multiple of 2880."""
    text = "".join(images) + "END".ljust(80)
    return (text + " " * ((-len(text)) % 2880)).encode("ascii")
