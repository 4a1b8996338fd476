"""The ``astroi2i`` command: parse, call one workflow, print, return an exit code.

Exit codes: 0 success, 2 bad input (one line naming the file or key; no traceback), 1 a bug.
"""

from __future__ import annotations

import logging
import sys
import warnings

from astroi2i.cli.parser import build_parser
from astroi2i.cli.translate_run import run_translate

__all__ = ["main"]

log = logging.getLogger("astroi2i")


def _tame_lightning() -> None:
    """Lightning sets its loggers to INFO with handlers of its own when imported; route them
    through ours instead (no doubled lines) and keep only its warnings."""
    import lightning  # noqa: F401 - the import is what installs Lightning's handlers

    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("lightning", "pytorch_lightning", "lightning_fabric"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.setLevel(logging.NOTSET if "." in name else logging.WARNING)
            logger.propagate = True


def _run_quickstart(args) -> int:
    from astroi2i.workflows.evaluate import format_table
    from astroi2i.workflows.quickstart import quickstart

    result = quickstart(
        args.workdir,
        max_batches=args.max_batches,
        overwrite=args.overwrite,
        seed=args.seed,
        progress_bar=not args.quiet,
    )
    print(format_table(result.summary))
    from astroi2i.workflows.split_eval import verdict

    gain = result.baseline_gain_db
    print(
        f"\npix2pix is {verdict(gain, 0.0)} the fitted classical baseline on held-out stamps: "
        f"PSNR {gain:+.2f} dB (physical units; the baseline: {result.baseline}); "
        f"noise floor {result.noise_floor_db:.2f} dB"
    )
    print(f"pix2pix vs identity: PSNR {result.psnr_gain_db:+.2f} dB, SSIM {result.ssim_gain:+.3f}")
    print(f"checkpoint: {result.checkpoint}")
    print(f"report:     {result.report / 'report.md'} (panels: {result.report / 'panels.png'})")
    return 0


def _run_train(args) -> int:
    if args.print_config:
        from astroi2i.config import dump_recipe
        from astroi2i.workflows.train import prepare_recipe

        print(dump_recipe(prepare_recipe(args.recipe, args.overrides)), end="")
        return 0
    from astroi2i.workflows.train import train

    _tame_lightning()
    result = train(
        args.recipe,
        overrides=args.overrides,
        workdir=args.workdir,
        overwrite=args.overwrite,
        resume=args.resume,
    )
    for key, value in sorted(result.metrics.items()):
        print(f"{key}: {value:.5g}")
    print(f"checkpoint: {result.checkpoint}")
    return 0


def _run_evaluate(args) -> int:
    from astroi2i.workflows.evaluate import evaluate, format_table

    table = evaluate(
        args.prediction,
        args.target,
        checkpoint=args.checkpoint,
        report=args.report,
        overwrite=args.overwrite,
        bicubic_from=args.bicubic_from,
        seed_softening=args.seed_softening,
        mask=args.mask,
        uncertainty=True if args.uncertainty else None,
    )
    print(format_table(table))
    if args.report:
        print(f"\nwrote {args.report}/metrics.ecsv and metrics.json")
    return 0


def _run_prepare(args) -> int:
    from astroi2i.cli.parser import given
    from astroi2i.errors import InputError
    from astroi2i.workflows.prepare import parse_fractions, prepare

    methods = {}
    for item in args.method:
        band, sep, method = item.partition("=")
        if not sep:
            raise InputError(f"--method {item!r}: expected BAND=METHOD")
        methods[band] = method
    result = prepare(
        args.fields,
        args.out,
        reference=args.reference,
        step=args.step,
        fractions=parse_fractions(args.split),
        region_deg=args.region_deg,
        methods=methods,
        seed=args.seed,
        overwrite=args.overwrite,
        **given(args, stamp="stamp", max_invalid="max_invalid"),
    )
    counts = ", ".join(f"{k} {v}" for k, v in result.stamps.items())
    print(
        f"stamps: {counts}; dropped {result.dropped_invalid} (invalid pixels), "
        f"{result.dropped_overlap} (overlap across splits)"
    )
    for band, used in sorted(result.methods.items()):
        print(f"resampled {band}: {', '.join(sorted(used))}")
    print(f"manifest: {result.manifest}")
    return 0


def _run_fetch(args) -> int:
    from astroi2i.cli.parser import given
    from astroi2i.workflows.fetch import fetch_targets, parse_surveys

    targets, result = fetch_targets(
        parse_surveys(args.survey), args.out, targets_csv=args.targets, ngc=args.ngc,
        limit=args.limit, client_options={"server": args.server, **given(
            args, timeout="timeout", retries="retries", rate="rate")},
        **given(args, pixels="pixels"),
    )  # fmt: skip
    print(
        f"targets: {len(targets)}, complete: {result.complete}; cutouts downloaded "
        f"{result.downloaded}, from cache {result.cached}; failed targets: {len(result.failed)}"
    )
    for name, reason in result.failed.items():
        print(f"  failed {name}: {reason}")
    if result.complete:
        print(f"manifest: {result.manifest}")
    return 0 if result.complete else 1


def _run_compare(args) -> int:
    from astroi2i.workflows.evaluate import format_table
    from astroi2i.workflows.twoway_compare import compare

    _tame_lightning()
    _, summary = compare(
        args.recipes, manifest=args.data, workdir=args.workdir, overrides=args.overrides,
        split=args.split, seed=args.seed, reuse=args.reuse, overwrite=args.overwrite,
        band=args.band,
    )  # fmt: skip
    print(format_table(summary))
    print(
        "\nphysical units of the target survey; PSNR/SSIM/MAE and noise: means over stamps and "
        "bands; bg_sigma_ratio = σ_pred/σ_target and bg_w1 (in σ_target) on the target's "
        "background pixels, psd_dex = mean |log10 P_pred/P_target| of the background power "
        f"spectrum; flux/r50/ell errors: medians, {args.band} band, photutils on the target's "
        f"segment\ntables: {args.workdir}/compare.ecsv, {args.workdir}/compare_rows.ecsv"
    )
    return 0


def _run_ablation(args) -> int:
    from astroi2i.workflows.ablation import ablation
    from astroi2i.workflows.evaluate import format_table

    _tame_lightning()
    variants = [[b.strip() for b in v.split(",") if b.strip()] for v in args.inputs]
    _, summary = ablation(
        args.recipe,
        variants,
        overrides=args.overrides,
        workdir=args.workdir,
        split=args.split,
        overwrite=args.overwrite,
    )
    print(format_table(summary))
    print(
        f"\nphysical = BUNIT of the target; stretched = each checkpoint's target stretch; "
        f"point_flux_err = median |Δf|/f in apertures on sources found in the target; "
        f"cover_*/width_95/spearman_sigma: the model's σ, as `evaluate` scores it\n"
        f"tables: {args.workdir}/ablation.ecsv, {args.workdir}/ablation_rows.ecsv"
    )
    return 0


def _run_import_panels(args) -> int:
    from astroi2i.workflows.legacy import import_panels
    from astroi2i.workflows.prepare import parse_fractions

    names = [n.strip() for n in args.names.split(",") if n.strip()]
    manifest = import_panels(
        args.images,
        names,
        args.out,
        fractions=parse_fractions(args.split),
        seed=args.seed,
        overwrite=args.overwrite,
    )
    print(f"manifest: {manifest}")
    return 0


def _run_simulate(args) -> int:
    from astroi2i.cli.parser import given

    if args.kind == "stix":
        return _run_simulate_stix(args)
    if args.kind == "coronagraph":
        from astroi2i.workflows.prepare import parse_fractions
        from astroi2i.workflows.simulate import simulate_coronagraph

        manifest = simulate_coronagraph(
            args.out, args.n, seed=args.seed, fractions=parse_fractions(args.split),
            overwrite=args.overwrite, **given(args, size="size"),
        )  # fmt: skip
        print(f"manifest: {manifest}")
        return 0
    if args.kind == "holes":
        from astroi2i.workflows.simulate import simulate_holes

        out = simulate_holes(
            args.images, args.out, zeros=args.zeros, seed=args.seed, overwrite=args.overwrite,
            **given(args, block="block", max_blocks="max_blocks", max_size="max_size"),
        )  # fmt: skip
        print(f"wrote {out}/damaged, {out}/holes and {out}/truth")
        return 0
    from astroi2i.workflows.prepare import parse_fractions
    from astroi2i.workflows.simulate import simulate_survey_pair

    manifest = simulate_survey_pair(
        args.images, args.out, preset=args.preset, psf_file=args.psf_file,
        stamps=given(args, paired="paired", unpaired="unpaired", val="val", test="test"),
        degradation=given(args, factor="factor", psf_in="psf_in_fwhm", psf_out="psf_out_fwhm",
                          moffat_beta="moffat_beta", sky="sky", gain="gain",
                          read_noise="read_noise", depth_ratio="depth_ratio"),
        fractions=parse_fractions(args.split), seed=args.seed, overwrite=args.overwrite,
    )  # fmt: skip
    print(f"manifest: {manifest}")
    return 0


def _run_simulate_stix(args) -> int:
    from astroi2i.cli.parser import given
    from astroi2i.workflows.prepare import parse_fractions
    from astroi2i.workflows.simulate_stix import simulate_stix

    imaging = given(args, map_size="map_size", pixel_size="pixel_size", clean_size="clean_size",
                    clean_beam="clean_beam_fwhm", gain="gain", niter="niter",
                    clean_threshold="threshold")  # fmt: skip
    options = given(args, exposure="exposure", flux="flux_range", background="background",
                    workers="workers")  # fmt: skip
    if "flux_range" in options:
        options["flux_range"] = tuple(options["flux_range"])
    manifest = simulate_stix(args.out, args.n, seed=args.seed, imaging=imaging,
                             fractions=parse_fractions(args.split), overwrite=args.overwrite,
                             **options)  # fmt: skip
    print(f"manifest: {manifest}")
    return 0


def _run_evaluate_split(args) -> int:
    from astroi2i.workflows.evaluate import format_table
    from astroi2i.workflows.split_eval import evaluate_split, verdict, versus

    _, summary = evaluate_split(
        args.checkpoint,
        args.manifest,
        args.out,
        split=args.split,
        group_by=args.group_by,
        compare=tuple(args.compare),
        range_space=args.range_space,
        overwrite=args.overwrite,
    )
    print(format_table(summary))
    for group, band, model, base, floor in versus(summary, "model", "baseline"):
        print(f"{group}, band {band}: the model is {verdict(model, base)} its fitted classical "
              f"baseline, {model:.2f} vs {base:.2f} dB physical PSNR; noise floor "
              f"{floor:.2f} dB")  # fmt: skip
    print(f"per-sample metrics, summary and predictions in {args.out}")
    return 0


def _run_export(args) -> int:
    from astroi2i.workflows.export import export

    path, report = export(args.checkpoint, args.format, args.output, overwrite=args.overwrite)
    print(f"wrote {path} and {report['sidecar']}")
    if "max_abs_diff_vs_torch" in report:
        print(
            f"onnxruntime vs PyTorch on a random input: max |diff| = "
            f"{report['max_abs_diff_vs_torch']:.2e}"
        )
    return 0


def _run_calibrate(args) -> int:
    from astroi2i.workflows.calibrate import calibrate

    path, cal = calibrate(args.checkpoint, args.manifest, split=args.split, output=args.output,
                          overwrite=args.overwrite, device=args.device, seed=args.seed,
                          correction=not args.keep_correction,
                          offset=not args.no_offset, finish=args.finish)  # fmt: skip
    _print_correction(path)
    powers = (cal.get("power") or [1.0] * len(cal["scale"])) if cal else ()
    rows = (
        zip(cal["offset"], powers, cal["scale"], cal["multipliers"], cal["n_pixels"]) if cal else ()
    )
    for c, (beta, power, scale, mult, n) in enumerate(rows):
        shape = f"(σ_raw + {beta:.4g})" + ("" if power == 1 else f"^{power:g}")
        print(
            f"band {c + 1}: σ = {shape} × {scale:.4g}; 90 % interval "
            f"±{mult[1]:.3f}σ, 95 % ±{mult[2]:.3f}σ ({n} pixels of {cal['n_images']} "
            f"{args.split} image(s))"
        )
    print(f"wrote {path}")
    return 0


def _print_correction(path) -> None:
    """The correction weight ``calibrate`` chose, per band, next to the classical answer."""
    from astroi2i.workflows.model import describe

    desc = describe(path)
    if desc.is_two_way:
        for side in ("b", "a"):
            entry = desc.two_way[side]
            chosen = {
                key: (entry.get(key) or {}).get(field)
                for key, field in (
                    ("correction", "weights"),
                    ("flux_anchor", "on"),
                    ("background", "on"),
                )
            }
            print(f"into {entry['name']}, per band: correction weight {chosen['correction']}, "
                  f"flux from regrid {chosen['flux_anchor']}, smooth background "
                  f"{chosen['background']}")  # fmt: skip
        return
    corr = desc.correction
    if not corr or "psnr" not in corr:
        return
    for c, (w, row) in enumerate(zip(corr["weights"], corr["psnr"])):
        chosen = row[corr["grid"].index(w)]
        print(
            f"band {c + 1}: correction weight {w:g} — held-out PSNR {chosen:.2f} dB; the "
            f"classical answer (w = 0) {row[0]:.2f} dB, as trained (w = 1) {row[-1]:.2f} dB "
            f"({corr['n_images']} {corr['split']} image(s))"
        )


def _run_inspect(args) -> int:
    from astroi2i.workflows.inspect import inspect_file
    from astroi2i.workflows.inspect_model import inspect_model, names_a_model

    print(inspect_model(args.file) if names_a_model(args.file) else inspect_file(args.file))
    return 0


COMMANDS = {
    "quickstart": _run_quickstart,
    "train": _run_train,
    "translate": run_translate,
    "evaluate": _run_evaluate,
    "prepare": _run_prepare,
    "fetch": _run_fetch,
    "ablation": _run_ablation,
    "compare": _run_compare,
    "import-panels": _run_import_panels,
    "simulate": _run_simulate,
    "evaluate-split": _run_evaluate_split,
    "export": _run_export,
    "calibrate": _run_calibrate,
    "inspect": _run_inspect,
}


def _configure_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    # Lightning's advice for big machines, not defects of a run on a small one
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # for provenance: the exact command that made an output
    _configure_logging(args.quiet)
    from astroi2i.errors import InputError, ProcessDied, TrainingDiverged

    try:
        return COMMANDS[args.command](args)
    except (InputError, FileNotFoundError, FileExistsError, IsADirectoryError) as exc:
        message = " ".join(str(exc).split())  # one line
        print(f"astroi2i {args.command}: error: {message}", file=sys.stderr)
        return 2
    except (TrainingDiverged, ProcessDied) as exc:
        print(f"astroi2i {args.command}: stopped: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("astroi2i: interrupted", file=sys.stderr)
        return 130
