"""Data of the two-way (semi-supervised) translators: two domains A and B with their own bands,
sizes and pixel scales, read from one manifest, and a dataset that mixes four streams per batch.

A manifest row with cells in both domains' columns is a *pair* (the same galaxy seen by both
surveys); a row with only A's cells (B's empty) is an unpaired A image, and the reverse. Each
training item holds ``streams["unpaired_a"]`` unpaired A images, ``streams["unpaired_b"]``
unpaired B images and ``streams["paired"]`` pairs (A and B halves: the paired-SDSS and
paired-CFHT streams), so a batch of N items mixes the four streams in fixed proportions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from astroi2i.data.augment import augmentation_group, dihedral
from astroi2i.data.datasets import _read_columns, _stack, apply_stretch, fit_stretch
from astroi2i.data.stretches import Stretch
from astroi2i.errors import InputError
from astroi2i.io.fits import band_labels
from astroi2i.io.image import SkyImage
from astroi2i.io.manifest import Manifest
from astroi2i.io.units import band_units
from astroi2i.sky.geometry import pixel_scale_arcsec, sky_frame

__all__ = ["DomainRows", "load_domains", "TwoWayDataset", "STREAMS", "stretched", "is_empty"]

STREAMS = ("unpaired_a", "unpaired_b", "paired")
#: the batch keys each stream fills
_KEYS = {"unpaired_a": ("a",), "unpaired_b": ("b",), "paired": ("pa", "pb")}


def is_empty(value) -> bool:
    """Whether a manifest cell is empty (a masked or blank value: the image is absent)."""
    return bool(np.ma.is_masked(value)) or str(value).strip() in ("", "--", "nan")


@dataclass
class DomainRows:
    """One split of a two-way manifest, read: pairs, A-only and B-only images."""

    paired: list[tuple[str, SkyImage, SkyImage]]
    only_a: list[tuple[str, SkyImage]]
    only_b: list[tuple[str, SkyImage]]

    def images(self, side: str) -> list[SkyImage]:
        if side == "a":
            return [a for _, a, _ in self.paired] + [a for _, a in self.only_a]
        return [b for _, _, b in self.paired] + [b for _, b in self.only_b]

    def size(self, side: str) -> tuple[int, int] | None:
        shapes = {tuple(im.data.shape[-2:]) for im in self.images(side)}
        return next(iter(shapes)) if shapes else None


def load_domains(
    manifest: Manifest, split: str, a_columns: list[str], b_columns: list[str]
) -> DomainRows:
    """Read every row of ``split``: a row's domain is present when all its columns have cells.

    Raises InputError when a row has some but not all of a domain's columns, when a row has
    neither domain, or when the images of one domain differ in size or band count (the batch
    needs one grid per domain).
    """
    manifest.require_columns(a_columns + b_columns)
    out = DomainRows([], [], [])
    for row in manifest.rows(split):
        key = str(row["id"])
        present = []
        for columns in (a_columns, b_columns):
            empty = [is_empty(row[c]) for c in columns]
            if any(empty) and not all(empty):
                raise InputError(f"{manifest.source}: row {key!r} has only some of {columns}")
            present.append(not any(empty))
        if not any(present):
            raise InputError(f"{manifest.source}: row {key!r} has no image in either domain")
        images = [
            _stack(_read_columns(manifest, row, cols), f"row {key}") if has else None
            for cols, has in zip((a_columns, b_columns), present)
        ]
        if all(present):
            out.paired.append((key, images[0], images[1]))
        elif present[0]:
            out.only_a.append((key, images[0]))
        else:
            out.only_b.append((key, images[1]))
    for side, name in (("a", "A"), ("b", "B")):
        shapes = {(im.n_bands, *im.data.shape[-2:]) for im in out.images(side)}
        if len(shapes) > 1:
            raise InputError(
                f"{manifest.source}: domain {name} images differ in bands × size "
                f"({sorted(shapes)}); two-way training needs one grid per domain"
            )
    return out


def stretched(stretch: Stretch, image: SkyImage, key: str, fill: float):
    """(C, H, W) float32 in stretched units with invalid pixels filled, and the (H, W) mask."""
    x = apply_stretch(stretch, image.data, None, key)
    mask = image.pixel_mask | ~np.isfinite(x).all(axis=0)
    return np.where(np.isfinite(x), x, fill).astype(np.float32), mask


class TwoWayDataset(torch.utils.data.Dataset):
    """Items of the mixed sampler: each holds ``streams[name]`` images of every stream.

    Item ``i`` of epoch ``e`` takes, from each pool, entries ``i·n … i·n + n − 1`` of that
    pool's permutation for (seed, e) (wrapping around), and draws one dihedral element per
    image (the same for both halves of a pair) from a (seed, e, i) generator, so a resumed or
    distributed run sees the same items. An epoch is as long as the largest pool needs.

    Keys: ``a``/``a_mask`` (unpaired A), ``b``/``b_mask``, ``pa``/``pa_mask``, ``pb``/``pb_mask``,
    each (n, C, H, W) / (n, H, W); a stream with count 0 (or an empty pool) is left out.
    """

    def __init__(
        self,
        rows: DomainRows,
        stretch_a: Stretch,
        stretch_b: Stretch,
        *,
        streams: dict[str, int],
        augment: bool | str = False,
        shuffle: bool = True,
        fill_value: float = 0.0,
        seed: int = 0,
    ) -> None:
        unknown = set(streams) - set(STREAMS)
        if unknown:
            raise InputError(f"data.streams.{sorted(unknown)[0]}: unknown stream; known: {STREAMS}")
        self.group = augmentation_group(augment)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

        def side(images, stretch):
            return [stretched(stretch, im, key, fill_value) for key, im in images]

        self.pools = {
            "unpaired_a": [(x,) for x in side(rows.only_a, stretch_a)],
            "unpaired_b": [(x,) for x in side(rows.only_b, stretch_b)],
            "paired": list(
                zip(
                    side([(k, a) for k, a, _ in rows.paired], stretch_a),
                    side([(k, b) for k, _, b in rows.paired], stretch_b),
                )
            ),
        }
        self.streams = {k: int(streams.get(k, 0)) for k in STREAMS}
        for name, count in self.streams.items():
            if count > 0 and not self.pools[name]:
                raise InputError(
                    f"data.streams.{name}: {count} per item, but the split has no such images"
                )
        self.active = [k for k in STREAMS if self.streams[k] > 0]
        if not self.active:
            raise InputError("data.streams: every stream count is 0")
        self._orders: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return max(-(-len(self.pools[k]) // self.streams[k]) for k in self.active)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._orders = {}

    def _order(self, name: str) -> np.ndarray:
        if name not in self._orders:
            n = len(self.pools[name])
            if self.shuffle:
                rng = np.random.default_rng([self.seed, self.epoch, STREAMS.index(name)])
                self._orders[name] = rng.permutation(n)
            else:
                self._orders[name] = np.arange(n)
        return self._orders[name]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index, 7])
        out: dict[str, list] = {}
        for name in self.active:
            order, count = self._order(name), self.streams[name]
            for j in range(count):
                entry = self.pools[name][order[(index * count + j) % len(order)]]
                k = self.group[int(rng.integers(0, len(self.group)))] if len(self.group) > 1 else 0
                for key, (x, mask) in zip(_KEYS[name], entry):
                    out.setdefault(key, []).append(dihedral(x, k))
                    out.setdefault(f"{key}_mask", []).append(dihedral(mask, k))
        return {k: torch.from_numpy(np.ascontiguousarray(np.stack(v))) for k, v in out.items()}


def twoway_datasets(cfg: dict, manifest: Manifest, stretch_a, stretch_b, *, fit: bool):
    """Training and validation datasets of a two-way recipe (``data.inputs`` are domain A's
    columns, ``data.targets`` domain B's), the stretches fitted on each domain's training
    images when ``fit``, and the checkpoint metadata: bands, units and each domain's name,
    grid size and pixel scale."""
    data = cfg["data"]
    if data["crop_size"] is not None:
        raise InputError(
            "data.crop_size: two-way systems train on whole stamps (their grids differ in "
            "size and pixel scale); set it to null"
        )
    for stretch, side in ((stretch_a, "inputs"), (stretch_b, "targets")):
        if stretch.exposure_keyword is not None:
            raise InputError(
                f"stretch.{side}: two-way systems cannot divide by an exposure "
                f"({stretch.exposure_keyword}): a translated stamp has no exposure of its own "
                "to multiply back; use a stretch without ExposureStretch"
            )
    rows = load_domains(manifest, data["train_split"], data["inputs"], data["targets"])
    streams = data["streams"] or {"unpaired_a": 1, "unpaired_b": 1, "paired": 1}
    if fit:
        for stretch, side in ((stretch_a, "a"), (stretch_b, "b")):
            images = [im.data for im in rows.images(side)]
            fit_stretch(stretch, images, [None] * len(images), [], f"domain {side}")
    common = dict(fill_value=data["fill_value"], seed=cfg["seed"])
    train_set = TwoWayDataset(rows, stretch_a, stretch_b, streams=streams,
                              augment=data["augment"], **common)  # fmt: skip
    val_set = None
    if data["val_split"] in set(manifest.table["split"]):
        val_rows = load_domains(manifest, data["val_split"], data["inputs"], data["targets"])
        if val_rows.paired:
            val_set = TwoWayDataset(val_rows, stretch_a, stretch_b, streams={"paired": 1},
                                    shuffle=False, **common)  # fmt: skip
    first_a, first_b = rows.images("a")[0], rows.images("b")[0]
    domains = {}
    for side, columns, image in (("a", data["inputs"], first_a), ("b", data["targets"], first_b)):
        domains[side] = {
            "name": "+".join(columns),
            "size": [int(n) for n in image.data.shape[-2:]],
            "pixel_scale_arcsec": pixel_scale_arcsec(image.wcs),
            "frame": sky_frame(image.wcs),
        }
    meta = {
        "input_bands": list(first_a.bands),
        "target_bands": list(first_b.bands),
        "input_units": list(band_units([first_a])),
        "target_units": list(band_units([first_b])),
        "input_filters": list(band_labels([first_a])),
        "target_filters": list(band_labels([first_b])),
        "two_way": domains,
    }
    return train_set, val_set, meta
