"""The ``astroi2i`` command: parse, call one workflow, print, return an exit code.

Exit codes: 0 success, 2 bad input (one line naming the file or key; no traceback), 1 a bug.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import warnings

from astroi2i import __version__

__all__ = ["main", "build_parser"]

log = logging.getLogger("astroi2i")


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes (so ``astroi2i quickstart -q`` works too)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="only warnings and errors",
    )
    return common


def _add_quickstart(sub) -> None:
    p = sub.add_parser(
        "quickstart",
        parents=[_common()],
        help="simulate a survey pair, train, translate, evaluate, report",
    )
    p.add_argument(
        "--workdir", default="astroi2i-quickstart", help="output folder (default: %(default)s)"
    )
    p.add_argument(
        "--max-batches", type=int, default=None, help="training batches (default: recipe's)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="reuse a non-empty work folder")


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", parents=[_common()], help="train a recipe (YAML path or packaged name)"
    )
    p.add_argument("recipe", help="recipe YAML, or a packaged name such as pix2pix_multiinput")
    p.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override recipe keys, e.g. trainer.max_batches=100",
    )
    p.add_argument("--workdir", default=None, help="run folder (default: runs/NAME-TIME)")
    p.add_argument("--overwrite", action="store_true", help="reuse a non-empty run folder")
    p.add_argument(
        "--resume",
        default=None,
        metavar="last|CKPT",
        help="continue a run: 'last' (with --workdir) or a checkpoint path",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved recipe and stop")


def _add_translate(sub) -> None:
    p = sub.add_parser("translate", parents=[_common()], help="apply a trained model to FITS files")
    p.add_argument("checkpoint")
    p.add_argument(
        "inputs", nargs="+", help="input FITS file(s) (path[:HDU]) in the model's band order"
    )
    p.add_argument("-o", "--output", required=True, help="output FITS file")
    p.add_argument("--tile", type=int, default=None, help="tile edge in pixels (default: recipe's)")
    p.add_argument("--overlap", type=int, default=None, help="tile overlap in pixels")
    p.add_argument(
        "--align", action="store_true", help="reproject inputs onto the first input's grid"
    )
    p.add_argument("--reference", default=None, help="FITS file whose grid --align uses instead")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if present)")
    p.add_argument("--overwrite", action="store_true")


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        parents=[_common()],
        help="PSNR/SSIM/MAE/flux ratio per band, physical and stretched",
    )
    p.add_argument("prediction", help="FITS file or folder")
    p.add_argument("target", help="FITS file or folder (files matched by name)")
    p.add_argument("--checkpoint", default=None, help="use this checkpoint's target stretch")
    p.add_argument("--report", default=None, help="folder for metrics.ecsv and metrics.json")
    p.add_argument("--overwrite", action="store_true")


def _add_prepare(sub) -> None:
    p = sub.add_parser(
        "prepare",
        parents=[_common()],
        help="align surveys onto one grid, cut stamps, split by sky region, write a manifest",
    )
    p.add_argument("fields", help="CSV: a 'field' column and one column per band (paths)")
    p.add_argument("--out", required=True, help="output folder (stamps and manifest.csv)")
    p.add_argument("--reference", default=None, help="band whose grid the others join")
    p.add_argument("--stamp", type=int, default=128, help="stamp edge in pixels (128)")
    p.add_argument("--step", type=int, default=None, help="stamp spacing (default: --stamp)")
    p.add_argument("--max-invalid", type=float, default=0.05, help="drop stamps above this")
    p.add_argument("--split", default="train=0.8,val=0.1,test=0.1", help="fractions by name")
    p.add_argument("--region-deg", type=float, default=None, help="sky cell size for splits")
    p.add_argument(
        "--method",
        nargs="+",
        action="extend",
        default=[],
        metavar="BAND=METHOD",
        help="resampling per band: interp, adaptive (flux-conserving) or exact",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")


def _add_fetch(sub) -> None:
    p = sub.add_parser(
        "fetch", parents=[_common()], help="HiPS cutouts (hips2fits) of N surveys per target"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--targets", help="CSV: name[, ra, dec (deg)][, fov_arcmin]")
    src.add_argument(
        "--ngc",
        nargs="*",
        metavar="NAME",
        help="OpenNGC objects (pyongc, offline); no names: the NGC catalogue",
    )
    p.add_argument(
        "--survey",
        nargs="+",
        action="extend",
        required=True,
        metavar="NAME=HIPS_ID",
        help="e.g. dss2=CDS/P/DSS2/red 2mass_k=CDS/P/2MASS/K sdss_r=CDS/P/SDSS9/r",
    )
    p.add_argument("--out", required=True, help="output folder (cutouts/ and manifest.csv)")
    p.add_argument("--pixels", type=int, default=256, help="cutout edge in pixels (256)")
    p.add_argument("--limit", type=int, default=None, help="at most this many targets")
    p.add_argument("--server", default=None, help="hips2fits URL (default: the CDS service)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--rate", type=float, default=2.0, help="requests per second at most")


def _add_ablation(sub) -> None:
    p = sub.add_parser(
        "ablation", parents=[_common()], help="train a recipe with several input sets, compare"
    )
    p.add_argument("recipe")
    p.add_argument(
        "--inputs",
        nargs="+",
        required=True,
        metavar="BANDS",
        help='comma-separated input columns per variant, e.g. "dss2" "dss2,2mass"',
    )
    p.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="overrides shared by every variant",
    )
    p.add_argument("--workdir", default="ablation")
    p.add_argument("--split", default="test", help="manifest split to score on (test)")
    p.add_argument("--overwrite", action="store_true")


def _add_import_panels(sub) -> None:
    p = sub.add_parser(
        "import-panels",
        parents=[_common()],
        help="split side-by-side survey panels (pix2pix-style PNG/FITS) into FITS + manifest",
    )
    p.add_argument("images", nargs="+", help="PNG, JPEG or FITS files, K panels side by side")
    p.add_argument("--names", required=True, help="panel names left to right, e.g. dss2,2mass,sdss")
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="train=0.8,val=0.1,test=0.1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export", parents=[_common()], help="export a checkpoint as ONNX or safetensors + JSON"
    )
    p.add_argument("checkpoint")
    p.add_argument("--format", required=True, choices=["onnx", "safetensors"])
    p.add_argument("-o", "--output", default=None, help="default: the checkpoint's name")
    p.add_argument("--overwrite", action="store_true")


def _add_inspect(sub) -> None:
    p = sub.add_parser(
        "inspect",
        parents=[_common()],
        help="HDUs, shape, bands, unit, WCS, NaN fraction, statistics",
    )
    p.add_argument("file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astroi2i",
        description="Train and apply image-to-image models on astronomical FITS data.",
    )
    parser.add_argument("--version", action="version", version=f"astroi2i {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_quickstart,
        _add_train,
        _add_translate,
        _add_evaluate,
        _add_prepare,
        _add_fetch,
        _add_ablation,
        _add_import_panels,
        _add_export,
        _add_inspect,
    ):
        add(sub)
    return parser


def _tame_lightning() -> None:
    """Lightning sets its loggers to INFO with handlers of its own when imported; route them
    through ours instead (no doubled lines) and keep only its warnings."""
    import lightning  # noqa: F401 - the import is what installs Lightning's handlers

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.WARNING)
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
    verdict = "better" if result.psnr_gain_db > 0 else "NOT better"
    print(
        f"\npix2pix vs identity baseline on held-out stamps (physical units): "
        f"PSNR {result.psnr_gain_db:+.2f} dB, SSIM {result.ssim_gain:+.3f} ({verdict})"
    )
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


def _run_translate(args) -> int:
    from astroi2i.workflows.translate import translate

    command = "astroi2i " + shlex.join(args.argv)
    out = translate(
        args.checkpoint,
        args.inputs,
        args.output,
        tile=args.tile,
        overlap=args.overlap,
        align=args.align,
        reference=args.reference,
        overwrite=args.overwrite,
        device=args.device,
        command=command,
    )
    print(f"wrote {out}")
    return 0


def _run_evaluate(args) -> int:
    from astroi2i.workflows.evaluate import evaluate, format_table

    table = evaluate(
        args.prediction,
        args.target,
        checkpoint=args.checkpoint,
        report=args.report,
        overwrite=args.overwrite,
    )
    print(format_table(table))
    if args.report:
        print(f"\nwrote {args.report}/metrics.ecsv and metrics.json")
    return 0


def _run_prepare(args) -> int:
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
        stamp=args.stamp,
        step=args.step,
        max_invalid=args.max_invalid,
        fractions=parse_fractions(args.split),
        region_deg=args.region_deg,
        methods=methods,
        seed=args.seed,
        overwrite=args.overwrite,
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
    from astroi2i.sources.hips import HipsClient, ngc_targets, read_targets
    from astroi2i.workflows.fetch import fetch, parse_surveys

    surveys = parse_surveys(args.survey)
    if args.targets:
        targets = read_targets(args.targets)[: args.limit]
    else:
        targets = ngc_targets(args.ngc or None, limit=args.limit)
    client = HipsClient(
        server=args.server, timeout=args.timeout, retries=args.retries, rate=args.rate
    )
    result = fetch(targets, surveys, args.out, pixels=args.pixels, client=client)
    print(
        f"targets: {len(targets)}, complete: {result.complete}; cutouts downloaded "
        f"{result.downloaded}, from cache {result.cached}; failed targets: {len(result.failed)}"
    )
    for name, reason in result.failed.items():
        print(f"  failed {name}: {reason}")
    if result.complete:
        print(f"manifest: {result.manifest}")
    return 0 if result.complete else 1


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
        f"point_flux_err = median |Δf|/f in apertures on sources found in the target\n"
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


def _run_inspect(args) -> int:
    from astroi2i.workflows.inspect import inspect_file

    print(inspect_file(args.file))
    return 0


COMMANDS = {
    "quickstart": _run_quickstart,
    "train": _run_train,
    "translate": _run_translate,
    "evaluate": _run_evaluate,
    "prepare": _run_prepare,
    "fetch": _run_fetch,
    "ablation": _run_ablation,
    "import-panels": _run_import_panels,
    "export": _run_export,
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
    from astroi2i.errors import InputError, TrainingDiverged

    try:
        return COMMANDS[args.command](args)
    except (InputError, FileNotFoundError, FileExistsError, IsADirectoryError) as exc:
        message = " ".join(str(exc).split())  # one line
        print(f"astroi2i {args.command}: error: {message}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"astroi2i {args.command}: stopped: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("astroi2i: interrupted", file=sys.stderr)
        return 130
