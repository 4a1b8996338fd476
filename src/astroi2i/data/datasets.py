"""Manifest-driven datasets. A :class:`PairedDataset` reads N input band columns (each a file of
any channel count) and target band columns, stretches them with fitted stretches, and yields
:class:`Sample` dicts of tensors with identical crops and dihedral augmentation."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import TypedDict

import numpy as np
import torch

from astroi2i.data.augment import augmentation_group, crop_origin, dihedral
from astroi2i.data.stretches import Stretch
from astroi2i.errors import InputError
from astroi2i.io.fits import band_labels, read_image, require_valid_pixels
from astroi2i.io.image import SkyImage
from astroi2i.io.manifest import Manifest
from astroi2i.io.units import band_units, unit_mismatch
from astroi2i.sky.geometry import crop_to_grid, rescale_wcs, same_grid, stack_bands

__all__ = [
    "Sample",
    "Pair",
    "load_pairs",
    "iter_pairs",
    "PairedDataset",
    "band_exposures",
    "apply_stretch",
    "fit_stretch",
    "fit_pair_stretch",
]


class Sample(TypedDict, total=False):
    """What a dataset yields. Tensors only; the WCS stays in the manifest.

    inputs (C_in, H, W) float32; target (C_out, H', W') float32 (absent in predict mode);
    mask (H, W) bool, True where any input or target pixel is invalid; key: the manifest id;
    hole (H, W) bool, inpainting only: True where valid pixels were removed from ``inputs``;
    loss_scale (C_out, H', W') float32, only with ``loss_space="physical"`` (a pixel loss
    with ``space`` physical or both): what the loss multiplies each error by
    (:func:`physical_scale`).
    """

    inputs: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    key: str
    hole: torch.Tensor
    loss_scale: torch.Tensor


@dataclass(frozen=True)
class Pair:
    """One manifest row, read: the stacked input bands, the target bands and their exposures."""

    key: str
    inputs: SkyImage
    target: SkyImage | None
    input_exposure: np.ndarray
    target_exposure: np.ndarray | None
    input_units: tuple[str, ...] = ()
    target_units: tuple[str, ...] = ()
    #: what each input (target) file's header calls its bands (``""`` where it says nothing)
    input_labels: tuple[str, ...] = ()
    target_labels: tuple[str, ...] = ()


def band_exposures(images: list[SkyImage], keyword: str | None, names=None) -> np.ndarray:
    """One exposure per band from each file's header ``keyword`` (NaN where absent). A value
    that is there but not a positive finite number (0, −5, 'abc', NaN) is an InputError
    naming the file (``names``, parallel to ``images``) and the value: dividing by it would
    give infinite or sign-flipped fluxes."""
    values = []
    for i, image in enumerate(images):
        raw = image.header.get(keyword) if keyword else None
        try:
            value = np.nan if raw is None else float(raw)
        except (TypeError, ValueError):
            value = -np.inf  # refused below
        if raw is not None and not (np.isfinite(value) and value > 0):
            where = names[i] if names is not None else "an input"
            raise InputError(f"{where}: header keyword {keyword} is {raw!r}, not a positive "
                             "number; the model's stretch divides by it")  # fmt: skip
        values.extend([value] * image.n_bands)
    return np.asarray(values, np.float64)


def _read_columns(manifest: Manifest, row, columns) -> list[SkyImage]:
    images = []
    for column in columns:
        path, hdu = manifest.cell(row, column)
        image = read_image(path, hdu=hdu)
        require_valid_pixels(image, path)
        names = image.bands if image.n_bands > 1 else (column,)
        images.append(image.replace(bands=names))
    return images


def _stack(images: list[SkyImage], where: str) -> SkyImage:
    try:
        return stack_bands(images)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def _without_zero_blocks(image: SkyImage, block: int) -> SkyImage:
    if block <= 0:
        return image
    from astroi2i.sky.masks import zero_blocks

    missing = zero_blocks(image.data, block=block)
    if not missing.any():
        return image
    mask = image.mask | (missing if image.mask.ndim == 2 else missing[None])
    return image.replace(mask=mask)


def load_pairs(manifest: Manifest, split: str | None, inputs: list[str],
               targets: list[str] | None, **options) -> list[Pair]:  # fmt: skip
    """Every row of one split, read into memory (:func:`iter_pairs`)."""
    return list(iter_pairs(manifest, split, inputs, targets, **options))


def iter_pairs(
    manifest: Manifest,
    split: str | None,
    inputs: list[str],
    targets: list[str] | None,
    *,
    align_target: str = "none",
    exposure_keyword: tuple[str | None, str | None] = (None, None),
    scale: int = 1,
    zero_blocks: int = 0,
    units: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
):
    """Read the rows of one split. Inputs must share a grid; the target must share it too, or
    be cut onto it by whole pixels (``align_target="wcs"`` or ``"crpix"``, the STIX 257→256
    case). With ``scale`` > 1 (super-resolution) the target must lie on the input grid made
    ``scale`` times finer (:func:`~astroi2i.sky.geometry.rescale_wcs`). Raises InputError
    naming the manifest row for every mismatch. ``zero_blocks`` > 0 marks grid-aligned blocks
    of exact zeros (lost telemetry) as invalid in inputs and targets. Every row's bands must
    be in the units of the first row's (or of ``units``, the input and target units of another
    split): one model cannot learn two units."""
    manifest.require_columns(list(inputs) + list(targets or []))
    rows = manifest.rows(split)
    if len(rows) == 0:
        raise InputError(f"{manifest.source}: no rows with split == {split!r}")
    for row in rows:
        where = f"{manifest.source} row id={row['id']}"
        in_images = _read_columns(manifest, row, inputs)
        x = _without_zero_blocks(_stack(in_images, where), zero_blocks)
        y, t_images = None, None
        if targets:
            if list(targets) == list(inputs):  # e.g. inpainting: the image is its own target
                t_images, y = in_images, x
            else:
                t_images = _read_columns(manifest, row, targets)
                y = _without_zero_blocks(_stack(t_images, where), zero_blocks)
            if align_target != "none":
                if x.wcs is None or y.wcs is None:
                    raise InputError(f"{where}: align_target={align_target!r} needs WCS")
                try:
                    y = crop_to_grid(y, x.wcs, x.shape, mode=align_target)
                except ValueError as exc:
                    raise InputError(
                        f"{where}: target cannot be cut onto the input grid: {exc}"
                    ) from None
            elif scale > 1:
                fine = SimpleNamespace(
                    shape=(x.shape[0] * scale, x.shape[1] * scale),
                    wcs=None if x.wcs is None else rescale_wcs(x.wcs, scale),
                )
                if not same_grid(y, fine):
                    raise InputError(
                        f"{where}: target is not on the input grid made {scale}× finer "
                        f"({y.shape} vs {fine.shape}); cut matching LR/HR regions first"
                    )
            elif not same_grid(x, y):
                raise InputError(
                    f"{where}: inputs and target are not on the same grid "
                    f"({x.shape} vs {y.shape}); set data.align_target or reproject first"
                )
        found = (band_units(in_images), band_units(t_images) if t_images else ())
        units = units or (found + (f"row id={row['id']}",))
        _require_units(where, (x.bands, () if y is None else y.bands), found, units)
        yield (
            Pair(
                str(row["id"]),
                x,
                y,
                band_exposures(in_images, exposure_keyword[0], [where] * len(in_images)),
                None
                if t_images is None
                else band_exposures(t_images, exposure_keyword[1], [where] * len(t_images)),
                *found,
                band_labels(in_images),
                band_labels(t_images) if t_images else (),
            )
        )


def _require_units(where: str, bands, found, expected) -> None:
    """Refuse a row whose band is in another unit than ``expected`` (input and target units,
    and what they come from) says; a band without BUNIT on either side passes."""
    source = expected[2] if len(expected) > 2 else "the training split"
    for names, given, wanted in zip(bands, found, expected[:2]):
        for name, a, b in zip(names, given, wanted):
            differ = unit_mismatch(a, b) if a.strip() and b.strip() else None
            if differ is not None:
                raise InputError(f"{where}: band {name!r} {differ}, the unit of {source}; one "
                                 "model cannot learn two units")  # fmt: skip


def fit_stretch(
    stretch: Stretch, images: list[np.ndarray], exposures: list, keys: list[str], side: str
) -> Stretch:
    """Fit a stretch on training images (each (C, H, W)), with their per-band exposures where a
    step of the stretch needs them: the one fitting path of every dataset kind. ``keys`` and
    ``side`` name the samples in errors."""
    from astroi2i.data.stretches import ChainStretch

    if stretch.exposure_keyword is not None:
        for key, e in zip(keys, exposures):
            if e is None or not np.all(np.isfinite(e)):
                raise InputError(
                    f"sample {key}: header keyword {stretch.exposure_keyword} is missing in the "
                    f"{side}"
                )
    if isinstance(stretch, ChainStretch):
        return stretch.fit(images, exposures=exposures)
    return stretch.fit(images)


def fit_pair_stretch(stretch: Stretch, pairs: list[Pair], side: str) -> Stretch:
    """:func:`fit_stretch` on the training pairs' ``side`` ("inputs" or "targets")."""
    inputs = side == "inputs"
    return fit_stretch(
        stretch,
        [(p.inputs if inputs else p.target).data for p in pairs],
        [p.input_exposure if inputs else p.target_exposure for p in pairs],
        [p.key for p in pairs],
        side,
    )


def apply_stretch(stretch: Stretch, data: np.ndarray, exposure, where: str) -> np.ndarray:
    """Stretch one (C, H, W) array, with a clear error when a needed exposure is missing."""
    if stretch.exposure_keyword is not None and not np.all(np.isfinite(exposure)):
        raise InputError(f"{where}: header keyword {stretch.exposure_keyword} is missing")
    return stretch.forward(data, exposure=exposure)


def _upsample(mask: np.ndarray, scale: int) -> np.ndarray:
    """A (H, W) mask on the grid ``scale`` times finer (each pixel becomes scale² pixels)."""
    if scale == 1:
        return mask
    return np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)


def physical_scale(stretch: Stretch, y: np.ndarray, exposure=None) -> np.ndarray:
    """Physical units per stretched unit at each stretched value of ``y`` (C, H, W), divided
    by that slope at zero: 1 on the sky, large in bright pixels (asinh: cosh y). An error
    scaled by it is, to first order, the physical error in units of the stretch's slope at
    zero (for asinh, the softening), so a loss on the stretched values scores what a
    physical-unit PSNR scores."""
    step = 1e-3
    y = np.asarray(y, np.float64)
    slope = stretch.inverse_sigma(y, np.full_like(y, step), exposure=exposure)
    zero = np.zeros((y.shape[0], 1, 1))  # one value per band
    at_zero = stretch.inverse_sigma(zero, np.full_like(zero, step), exposure=exposure)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(slope, np.float64) / np.asarray(at_zero, np.float64)


class PairedDataset(torch.utils.data.Dataset):
    """Stretched, cropped and augmented samples from :class:`Pair` s held in memory.

    Parameters
    ----------
    pairs : list of Pair
        From :func:`load_pairs`.
    input_stretch, target_stretch : Stretch
        Fitted stretches (the same objects go into the checkpoint).
    crop_size : int or None
        Square crop edge in pixels; None uses the whole image (all images must then share a
        shape to be batched).
    crop : {"random", "center"}
        Random crops for training, centred crops for validation.
    crops_per_image : int
        Samples drawn from each image per epoch (an epoch is len(pairs) × this).
    augment : bool or str
        Random dihedral-8 (rotations by 90° and flips; ``True``), the half turn only
        (``"rot180"``) or none; identical on inputs, target and mask.
    fill_value : float
        Value put into invalid pixels, in stretched units. The mask tells the losses to ignore
        them.
    seed : int
        Base of the per-sample random stream; see :meth:`__getitem__`.
    scale : int
        Target pixels per input pixel (super-resolution): the target crop is ``scale`` ×
        the input crop over the same sky, and ``mask`` is on the target grid.
    baseline : fitted baseline, optional
        ``data.anchor: baseline``: the targets become target − baseline(inputs), both
        stretched with the target stretch (the baseline is computed once, in physical units,
        on the whole image, then cropped with it).
    loss_space : {"stretched", "physical"}
        ``physical``: each sample also carries ``loss_scale``, the target stretch's slope at each
        target pixel (physical units per stretched unit) divided by its slope at zero, which
        the pixel loss multiplies the error by (see :func:`physical_scale`).
    holes : dict, optional
        Inpainting: keyword arguments of :func:`astroi2i.sky.masks.random_blocks`; each
        sample gets random missing blocks (drawn from its own random stream), filled with
        ``fill_value`` in ``inputs`` and marked in ``hole`` (True = removed; pixels already
        invalid stay in ``mask`` only).
    cache : (folder, fingerprint), optional
        Keep the stretched samples on disk instead of in memory (``data.cache: disk``):
        :mod:`astroi2i.data.disk_cache` builds the cache once (``pairs`` may then be an
        iterator, read one pair at a time) or reuses a complete one of the same fingerprint;
        the samples drawn are the same, value for value.
    """

    def __init__(
        self,
        pairs: list[Pair],
        *,
        input_stretch: Stretch,
        target_stretch: Stretch | None = None,
        crop_size: int | None = None,
        crop: str = "random",
        crops_per_image: int = 1,
        augment: bool | str = False,
        fill_value: float = 0.0,
        seed: int = 0,
        scale: int = 1,
        holes: dict | None = None,
        baseline=None,
        loss_space: str = "stretched",
        cache: tuple | None = None,
    ) -> None:
        if loss_space not in ("stretched", "physical"):
            raise ValueError(f"loss_space: 'stretched' or 'physical', got {loss_space!r}")
        self.physical = loss_space == "physical"
        self.holes = None if holes is None else dict(holes)
        self.fill_value = fill_value
        if self.holes is not None:
            allowed = {"block", "max_blocks", "max_size"}
            unknown = set(self.holes) - allowed
            if unknown:
                raise InputError(
                    f"data.holes.{sorted(unknown)[0]}: unknown key; allowed: {sorted(allowed)}"
                )
        self.scale = int(scale)
        self.crop_size, self.crop = crop_size, crop
        self.group = augmentation_group(augment)
        self.crops_per_image = max(1, int(crops_per_image))
        self.seed = seed
        self.epoch = 0
        prepared = (self._stretched(p, input_stretch, target_stretch, baseline) for p in pairs)
        if cache is None:
            stored = list(prepared)
        else:
            from astroi2i.data.disk_cache import build_cache, open_cache

            folder, fingerprint = cache
            stored = open_cache(folder, fingerprint) or build_cache(prepared, folder, fingerprint)
        self.keys = [key for key, *_ in stored]
        self._x = [x for _, x, _, _ in stored]
        self._y = [y for _, _, y, _ in stored]
        self._mask = [m for *_, m in stored]

    def _stretched(self, p: Pair, input_stretch, target_stretch, baseline) -> tuple:
        """``(key, inputs, target, mask)`` of a pair as the network sees them: stretched,
        invalid pixels at the fill value and in the mask."""
        fill_value = self.fill_value
        x = apply_stretch(input_stretch, p.inputs.data, p.input_exposure, p.key)
        mask = _upsample(p.inputs.pixel_mask | ~np.isfinite(x).all(axis=0), self.scale)
        y = None
        if p.target is not None and target_stretch is not None:
            y = apply_stretch(target_stretch, p.target.data, p.target_exposure, p.key)
            scale = physical_scale(target_stretch, y, p.target_exposure) if self.physical else None
            if baseline is not None:  # the network learns the correction to it
                b = baseline.predict(np.where(p.inputs.band_mask, np.nan, p.inputs.data))
                y = y - apply_stretch(target_stretch, b, p.target_exposure, p.key)
            mask = mask | p.target.pixel_mask | ~np.isfinite(y).all(axis=0)
            y = np.where(np.isfinite(y), y, fill_value).astype(np.float32)
            if scale is not None:  # stored as extra target channels (one array per sample)
                y = np.concatenate([y, np.where(np.isfinite(scale), scale, 0.0)]).astype(np.float32)
        x = np.where(np.isfinite(x), x, fill_value).astype(np.float32)
        if self.crop_size is not None and min(x.shape[-2:]) < self.crop_size:
            raise InputError(
                f"sample {p.key}: image {x.shape[-2:]} is smaller than the "
                f"crop size {self.crop_size}"
            )
        return p.key, x, y, mask

    def __len__(self) -> int:
        return len(self._x) * self.crops_per_image

    def set_epoch(self, epoch: int) -> None:
        """Change the random stream between epochs (called by the data module)."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> Sample:
        # a per-(seed, epoch, index) generator: the same sample is drawn whatever the worker
        # count or order, which is what makes resumed and distributed runs reproducible
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image = index % len(self._x)
        x, y, mask = self._x[image], self._y[image], self._mask[image]
        if self.crop_size is not None:
            s, size = self.scale, self.crop_size
            y0, x0 = crop_origin(x.shape[-2:], size, self.crop, rng)
            x = x[:, y0 : y0 + size, x0 : x0 + size]
            fine = (slice(y0 * s, (y0 + size) * s), slice(x0 * s, (x0 + size) * s))
            mask = mask[fine]  # on the target grid: the same sky as the input crop
            y = None if y is None else y[(slice(None), *fine)]
        else:  # whole images (a disk-cached array is read here)
            x, mask, y = x[:], mask[:], None if y is None else y[:]
        if len(self.group) > 1:
            k = self.group[int(rng.integers(0, len(self.group)))]
            x, mask = dihedral(x, k), dihedral(mask, k)
            y = None if y is None else dihedral(y, k)
        sample: Sample = {"key": self.keys[image]}
        if self.holes is not None:
            from astroi2i.sky.masks import random_blocks

            hole = random_blocks(mask.shape, rng, **self.holes) & ~mask
            x = np.where(hole, np.float32(self.fill_value), x)
            sample["hole"] = torch.from_numpy(hole)
        sample["inputs"] = torch.from_numpy(np.ascontiguousarray(x))
        sample["mask"] = torch.from_numpy(np.ascontiguousarray(mask))
        if y is not None:
            if self.physical:
                y, scale = np.split(y, 2)
                sample["loss_scale"] = torch.from_numpy(np.ascontiguousarray(scale))
            sample["target"] = torch.from_numpy(np.ascontiguousarray(y))
        return sample
