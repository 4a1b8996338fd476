"""Two-way translators at inference: load a checkpoint, translate stamps either way (FITS in,
FITS out on the other survey's grid); ``astroi2i compare`` is in
:mod:`astroi2i.workflows.twoway_compare`.

The output grid of a translation is the one the network was trained to produce: its size is
the input's times the ratio of the two domains' training sizes (64 → 136 for SDSS → CFHT), its
pixel scale the target survey's (0.396″ → 0.187″), and it is centred on the input's centre, as
the training stamps of a pair were; its unit is the target domain's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from astroi2i.errors import InputError
from astroi2i.workflows.model import load_system as load_twoway

__all__ = ["load_twoway", "predict_twoway", "translate_twoway", "domain_side",
           "regrid_baseline"]  # fmt: skip

log = logging.getLogger(__name__)


def domain_side(meta: dict, to: str) -> str:
    """ "a" or "b" for a domain name (``--to cfht``) or the letters themselves."""
    names = {meta.two_way[s]["name"]: s for s in ("a", "b")}
    if to in ("a", "b"):
        return to
    if to not in names:
        raise InputError(f"--to {to}: this model translates to {' or '.join(names)}")
    return names[to]


def _stretches(meta: dict, to: str):
    from astroi2i.data.stretches import build_stretch

    source = build_stretch(meta.stretches["inputs" if to == "b" else "targets"])
    target = build_stretch(meta.stretches["targets" if to == "b" else "inputs"])
    return source, target


def output_shape(meta: dict, to: str, shape: tuple[int, int]) -> tuple[int, int]:
    """The output grid size of a ``shape`` input translated into domain ``to``."""
    src = meta.two_way["a" if to == "b" else "b"]["size"]
    dst = meta.two_way[to]["size"]
    return tuple(max(1, int(round(n * d / s))) for n, s, d in zip(shape, src, dst))


def output_wcs(wcs, meta: dict, to: str, shape_in, shape_out):
    """The WCS of a translation: the input's, with the target survey's pixel scale (ratio of
    the domains' stored pixel scales; of the grid sizes where those are unknown), centred on
    the same sky position as the input's centre."""
    from astroi2i.sky.geometry import rescale_wcs

    if wcs is None:
        return None
    src, dst = meta.two_way["a" if to == "b" else "b"], meta.two_way[to]
    if src.get("pixel_scale_arcsec") and dst.get("pixel_scale_arcsec"):
        factor = src["pixel_scale_arcsec"] / dst["pixel_scale_arcsec"]
    else:
        factor = shape_out[0] / shape_in[0]
    out = rescale_wcs(wcs, factor)
    # rescale_wcs keeps the grid's outer edge; move it so that the centres coincide instead
    ny, nx = shape_out
    out.wcs.crpix = out.wcs.crpix + 0.5 * (np.array([nx, ny]) - factor * np.array(shape_in[::-1]))
    out.pixel_shape = (nx, ny)
    return out


def flux_anchored(meta, to: str) -> list[bool]:
    """Per band, whether translations into ``to`` get their sources' flux from the regrid
    reference (chosen on validation pairs after training: ``two_way[to]["flux_anchor"]``)."""
    n_bands = len(meta.target_bands if to == "b" else meta.input_bands)
    chosen = meta.two_way[to].get("flux_anchor") or {}
    return [bool(v) for v in chosen.get("on", [False] * n_bands)]


@torch.no_grad()
def predict_twoway(
    system, meta: dict, data: np.ndarray, to: str, *, seed: int = 0, noise: bool = True,
    flux_anchor: bool | None = None, shape_spectrum: bool = True, background: bool = True,
) -> np.ndarray:  # fmt: skip
    """Translate one (C, H, W) physical array into domain ``to`` ("a"/"b"): stretch with the
    source domain's stretch, run the system, invert the target domain's stretch. NaN inputs
    are filled for the network and NaN is put back over the output pixels they cover.

    ``flux_anchor`` (per band, or one value for all; default: the model's stored choice,
    :func:`flux_anchored`): each source of the noise-free translation is rescaled to the flux
    the regrid reference measures for it (:func:`astroi2i.baselines.flux_anchor.anchor_flux`);
    the emulated noise, taken in physical units as the noisy translation less the noise-free
    one, is added after. With ``background`` and a stored ``two_way[to]["background"]``, the
    noise-free translation's background between sources is then replaced by its smooth
    estimate in the chosen bands (:mod:`astroi2i.baselines.background`). With
    ``shape_spectrum`` and a stored ``two_way[to]["noise_spectrum"]``
    that noise is first filtered to the survey's measured power spectrum less the noise-free
    translation's own (:mod:`astroi2i.baselines.noise_spectrum`)."""
    from astroi2i.archs.twoway import resample

    stretch_src, stretch_dst = _stretches(meta, to)
    n_bands = len(meta.input_bands if to == "b" else meta.target_bands)
    if data.shape[0] != n_bands:
        raise InputError(f"the input has {data.shape[0]} bands; this direction needs {n_bands}")
    x = stretch_src.forward(data)
    invalid = ~np.isfinite(x).all(axis=0)
    x = np.where(np.isfinite(x), x, meta.fill_value).astype(np.float32)
    size = output_shape(meta, to, x.shape[-2:])
    device = next(system.parameters()).device

    def run(with_noise: bool) -> np.ndarray:
        y = system.translate(
            torch.from_numpy(x)[None].to(device), to, size,
            generator=torch.Generator().manual_seed(seed), noise=with_noise,
        )[0].float().cpu().numpy()  # fmt: skip
        return stretch_dst.inverse(y).astype(np.float32)

    out = run(noise)
    clean = None if noise else out
    bands = flux_anchored(meta, to) if flux_anchor is None else flux_anchor
    bands = [bool(bands)] * n_bands if isinstance(bands, bool) else list(bands)
    smoothing = meta.two_way[to].get("background") if background else None
    if any(bands) or (smoothing and any(smoothing["on"])):
        from astroi2i.workflows.twoway_anchors import apply_finish

        clean = run(False) if clean is None else clean
        reference = regrid_baseline(data, meta, to) if any(bands) else None
        finished = apply_finish(clean, reference, bands, smoothing)
        out, clean = finished + (out - clean), finished
    spectrum = meta.two_way[to].get("noise_spectrum") if shape_spectrum else None
    if noise and spectrum:
        from astroi2i.baselines.radial_filter import radial_filter, stored_filter

        clean = run(False) if clean is None else clean
        out = clean + radial_filter(out - clean, *stored_filter(spectrum))
    if invalid.any():
        covered = resample(torch.from_numpy(invalid.astype(np.float32))[None, None], size)
        out[:, covered[0, 0].numpy() > 0.01] = np.nan
    return out


def translate_twoway(
    checkpoint,
    inputs: Sequence,
    output,
    *,
    to: str,
    seed: int = 0,
    noise: bool = True,
    background: bool = True,
    flux_anchor: bool | None = None,
    overwrite: bool = False,
    device: str | None = None,
    command: str | None = None,
    loaded: tuple | None = None,
) -> Path:
    """Translate a stamp (one cube, or one file per band in the model's order) into the
    domain ``to`` (a domain name or "a"/"b") and write it as FITS with the rescaled WCS, the
    target unit and provenance. ``seed``: of the sampled noise; ``noise=False``: the
    deterministic, noise-free translation; ``background=False``: without the smooth
    background between sources chosen after training; ``flux_anchor``: True takes every
    source's flux from the regrid reference (None: in the bands chosen after training), as
    :func:`predict_twoway` says."""
    from astroi2i.data.datasets import _stack
    from astroi2i.io.fits import read_image, write_image
    from astroi2i.io.folders import require_new_output
    from astroi2i.io.image import SkyImage
    from astroi2i.io.manifest import parse_cell
    from astroi2i.io.units import band_units
    from astroi2i.workflows.translate_checks import check_frame, check_units

    output = Path(output)
    require_new_output(output, inputs, overwrite=overwrite)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    system, meta = loaded if loaded is not None else load_twoway(checkpoint, device=device)
    side = domain_side(meta, to)
    images = [read_image(*parse_cell(str(p), Path("."))) for p in inputs]
    source = (meta.input_units, meta.input_bands) if side == "b" else (
        meta.target_units, meta.target_bands)  # fmt: skip
    check_units(inputs, band_units(images), *source)
    frame = meta.two_way["a" if side == "b" else "b"].get("frame", "")
    check_frame(inputs, [im.wcs for im in images], frame)
    image = _stack(images, "inputs") if len(images) > 1 else images[0]
    data = predict_twoway(system, meta, image.data, side, seed=seed, noise=noise,
                          background=background, flux_anchor=flux_anchor)  # fmt: skip
    wcs = output_wcs(image.wcs, meta, side, image.data.shape[-2:], data.shape[-2:])
    bands = meta.target_bands if side == "b" else meta.input_bands
    units = meta.target_units if side == "b" else meta.input_units
    out = SkyImage(data, wcs, units[0] if units else "", bands=tuple(bands), header=image.header)
    provenance = {
        "task": f"astroi2i translate (two-way) to {meta.two_way[side]['name']}",
        "checkpoint": meta.name,
        "sha256": meta.sha256,
        "system": meta.system_type,
        "noise": f"{'emulated/sampled, seed ' + str(seed) if noise else 'off (deterministic)'}",
        "grid": "{}x{} -> {}x{}".format(*image.data.shape[:-3:-1], *data.shape[:-3:-1]),
    }
    chosen = flux_anchored(meta, side) if flux_anchor is None else [flux_anchor] * len(bands)
    anchored = [b for b, on in zip(bands, chosen) if on]
    if anchored:
        provenance["flux"] = f"sources rescaled to the regrid reference's flux in {anchored}"
    generator = getattr(system, "g_ab" if side == "b" else "g_ba", None)
    if getattr(generator, "anchor_filter", False):
        n = meta.two_way[side]["regrid_filter"]["n_pairs"]
        provenance["anchor"] = f"regrid filtered to the target survey (fitted on {n} pairs)"
    finish = meta.two_way[side].get("background") or {}
    smoothed = [b for b, on in zip(bands, finish.get("on", ())) if on and background]
    if smoothed:
        provenance["background"] = f"smooth between sources (noise removed) in {smoothed}"
    if finish.get("rule") and (anchored or smoothed):
        provenance["finish"] = (f"flux and background chosen by the {finish['rule']} rule on "
                                f"{finish['n_pairs']} pairs")  # fmt: skip
    if noise and meta.two_way[side].get("noise_spectrum"):
        provenance["noise_spectrum"] = "emulated noise shaped to the survey's measured spectrum"
    if command:
        provenance["command"] = command[:300]
    output.parent.mkdir(parents=True, exist_ok=True)
    return write_image(out, output, provenance=provenance, overwrite=overwrite)


def regrid_factor(meta, to: str) -> float:
    """The regrid reference's scale into domain ``to``: the pixel-area ratio times the unit
    factor the two stretches state (their flux scales: CFHT ADU = 1000 × SDSS nanomaggies)."""
    src, dst = meta.two_way["a" if to == "b" else "b"], meta.two_way[to]
    stretch_src, stretch_dst = _stretches(meta, to)
    units = getattr(stretch_dst, "flux_scale", 1.0) / getattr(stretch_src, "flux_scale", 1.0)
    return float((dst["pixel_scale_arcsec"] / src["pixel_scale_arcsec"]) ** 2 * units)


def regrid_baseline(data: np.ndarray, meta: dict, to: str) -> np.ndarray:
    """The no-learning reference: the source stamp bilinearly resampled onto the target grid,
    times :func:`regrid_factor`."""
    from astroi2i.archs.twoway import resample

    size = output_shape(meta, to, data.shape[-2:])
    x = torch.from_numpy(np.nan_to_num(data).astype(np.float32))[None]
    return (resample(x, size)[0].numpy() * regrid_factor(meta, to)).astype(np.float32)


def attach_regrid_baselines(system, meta) -> None:
    """Give anchored generators (``ScaleGenerator(anchor=True)``) the regrid baseline they start
    at, from the description's fitted stretches and grids, and the weight of their correction
    chosen after training (:func:`astroi2i.workflows.correction.fit_twoway_correction`); the
    same call at training and at inference."""
    for name, to in (("g_ab", "b"), ("g_ba", "a")):
        generator = getattr(system, name, None)
        if getattr(generator, "anchor", False):
            source, target = ("inputs", "targets") if to == "b" else ("targets", "inputs")
            try:
                generator.use_baseline(meta.stretches[source], meta.stretches[target],
                                       regrid_factor(meta, to),
                                       meta.two_way[to].get("regrid_filter"))  # fmt: skip
            except ValueError as err:
                raise InputError(f"model.{name}: {err}") from None
            # the weight of its correction, when one was chosen after training
            chosen = meta.two_way[to].get("correction")
            generator.set_correction_weight(chosen["weights"] if chosen else None)
            # per band, whether w weighs against the raw input's classical answer
            generator.raw_reference = (chosen or {}).get("raw_reference")


def anchor_twoway(system, description, resumed) -> None:
    """Generators anchored to the regrid baseline get it; noise emulators anchored to each
    survey's measured noise get its level (a resumed run keeps the level it saved)."""
    attach_regrid_baselines(system, description)
    for side in ("a", "b"):
        emulator = getattr(system, f"ne_{side}", None)
        if getattr(emulator, "anchor", False) and resumed is None:
            emulator.set_noise_level(description.two_way[side]["noise_sigma"])


def _noise_free_truths(table, split, inputs, targets) -> dict | None:
    """key → (truth A, truth B) from the ``<column>_truth`` cells that ``simulate
    survey-pair`` writes (the stamps' noise-free expectation), or None without them."""
    from astroi2i.data.twoway import load_domains

    columns = [f"{c}_truth" for c in (*inputs, *targets)]
    if not set(columns) <= set(table.table.colnames):
        return None
    rows = load_domains(table, split, columns[: len(inputs)], columns[len(inputs) :]).paired
    return {key: (a, b) for key, a, b in rows}
