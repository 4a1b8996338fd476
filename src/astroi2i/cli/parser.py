"""The ``astroi2i`` argument parser: one sub-parser per workflow."""

from __future__ import annotations

import argparse

from astroi2i import __version__
from astroi2i.cli.defaults import Default, given
from astroi2i.cli.simulate_parser import add_simulate

__all__ = ["build_parser", "Default", "given", "common_options"]


def _add_overrides(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help=help_text,
    )


def common_options() -> argparse.ArgumentParser:
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
        parents=[common_options()],
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
        "train", parents=[common_options()], help="train a recipe (YAML path or packaged name)"
    )
    p.add_argument("recipe", help="recipe YAML, or a packaged name such as pix2pix_multiinput")
    _add_overrides(p, "override recipe keys, e.g. trainer.max_batches=100")
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
    p = sub.add_parser(
        "translate", parents=[common_options()], help="apply a trained model to FITS files"
    )
    p.add_argument("checkpoint", help="checkpoint, export, or packaged model name (stix-bp2clean)")
    p.add_argument(
        "inputs",
        nargs="*",
        help="input FITS file(s) (path[:HDU]) in the model's band order; with --out-dir, "
        "one output per file",
    )
    p.add_argument("-o", "--output", default=None, help="output FITS file (one translation)")
    batch = p.add_argument_group(
        "many files in one call (exit code 0: all written or complete already, 1: some "
        "failed, listed in OUT_DIR/failures.csv, 2: bad options)"
    )
    batch.add_argument("--out-dir", default=None, help="output folder: one FITS file per input "
                       "file, or per manifest row (ID.fits)")  # fmt: skip
    batch.add_argument("--manifest", default=None, help="take the inputs from a manifest's "
                       "rows (the model's input columns) instead of files")  # fmt: skip
    batch.add_argument("--split", default=None, help="with --manifest: only rows of this split")
    owner = "workflows.batch_translate:batch_translate"
    batch.add_argument("--devices", type=int, default=Default(owner, "devices"),
                       help="processes to shard the files over, GPUs or CPU processes "
                       "(%(default)s)")  # fmt: skip
    batch.add_argument(
        "--workers",
        type=int,
        default=Default(owner, "workers"),
        help="processes reading files ahead (default: one; 0: none)",
    )
    batch.add_argument("--batch-size", type=int, default=Default(owner, "batch_size"),
                       help="same-shape images per network call (%(default)s: bit for bit "
                       "what a single translate writes)")  # fmt: skip
    p.add_argument("--tile", type=int, default=None,
                   help="largest tile edge in input pixels; tiles are shrunk to cover the "
                   "image in as many (default: from the model's reach and recipe)")  # fmt: skip
    p.add_argument(
        "--mask", default=None, help="inpainting models: FITS mask of extra pixels to fill (≠0)"
    )
    p.add_argument("--overlap", type=int, default=None, help="tile overlap in pixels")
    p.add_argument(
        "--align", action="store_true", help="reproject inputs onto the first input's grid"
    )
    p.add_argument("--reference", default=None, help="FITS file whose grid --align uses instead")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if present)")
    p.add_argument(
        "--conserve-flux",
        action="store_true",
        help="report Σ output / Σ input per band (per-pixel flux units: ≈ 1)",
    )
    p.add_argument(
        "--to", default=None, metavar="DOMAIN", help="two-way models: the domain to translate into"
    )
    p.add_argument("--seed", type=int, default=0, help="two-way models: seed of sampled noise (0)")
    p.add_argument(
        "--no-noise",
        action="store_true",
        help="two-way models: the deterministic output (no emulated noise, mean latent code)",
    )
    p.add_argument(
        "--no-smooth-background",
        action="store_true",
        help="two-way models: keep the translation's background between sources as the "
        "network made it, not smoothed as chosen after training (faint-source work)",
    )
    p.add_argument(
        "--flux-from-regrid",
        action="store_true",
        help="two-way models: every source's flux taken from the regrid reference, in every "
        "band (default: the bands chosen after training); for photometry",
    )
    p.add_argument(
        "--uncalibrated",
        action="store_true",
        help="models with σ: write the raw σ, without the stored calibration (for comparison)",
    )
    p.add_argument(
        "--no-sigma",
        action="store_true",
        help="models with σ: run the generator alone and write no UNCERT (faster; the "
        "same prediction, to float rounding)",
    )
    p.add_argument("--overwrite", action="store_true")


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        parents=[common_options()],
        help="PSNR/SSIM/MAE/flux ratio per band, physical and stretched",
    )
    p.add_argument("prediction", help="FITS file or folder")
    p.add_argument("target", help="FITS file or folder (files matched by name)")
    p.add_argument("--checkpoint", default=None, help="use this checkpoint's target stretch")
    p.add_argument(
        "--bicubic-from",
        default=None,
        metavar="LR",
        help="low-resolution file/folder: add the bicubic baseline (super-resolution)",
    )
    p.add_argument(
        "--seed-softening",
        type=float,
        default=None,
        metavar="S",
        help="add PSNR the SRGAN seed's way: asinh(x/S), per-image min-max",
    )
    p.add_argument(
        "--mask",
        default=None,
        metavar="MASK",
        help="inpainting: FITS mask (≠0 = hole) or folder matched by name; score only the hole, "
        "next to biharmonic and border-mean fills, with the RMSE by depth into the hole",
    )
    p.add_argument(
        "--uncertainty",
        action="store_true",
        help="score the predictions' σ (UNCERT extension; automatic when present): coverage, "
        "width, Spearman(|residual|, σ), fraction beyond 3σ, reliability.png",
    )
    p.add_argument("--report", default=None, help="folder for metrics.ecsv and metrics.json")
    p.add_argument("--overwrite", action="store_true")


def _add_prepare(sub) -> None:
    p = sub.add_parser(
        "prepare",
        parents=[common_options()],
        help="align surveys onto one grid, cut stamps, split by sky region, write a manifest",
    )
    p.add_argument("fields", help="CSV: a 'field' column and one column per band (paths)")
    p.add_argument("--out", required=True, help="output folder (stamps and manifest.csv)")
    p.add_argument("--reference", default=None, help="band whose grid the others join")
    p.add_argument("--stamp", type=int, default=Default("workflows.prepare:prepare", "stamp"),
                   help="stamp edge in pixels (%(default)s)")  # fmt: skip
    p.add_argument("--step", type=int, default=None, help="stamp spacing (default: --stamp)")
    p.add_argument("--max-invalid", type=float,
                   default=Default("workflows.prepare:prepare", "max_invalid"),
                   help="drop stamps with a larger invalid fraction (%(default)s)")  # fmt: skip
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
        "fetch", parents=[common_options()], help="HiPS cutouts (hips2fits) of N surveys per target"
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
    fetch, client = "workflows.fetch:fetch", "sources.hips:HipsClient"
    p.add_argument(
        "--pixels",
        type=int,
        default=Default(fetch, "pixels"),
        help="cutout edge in pixels (%(default)s)",
    )
    p.add_argument("--limit", type=int, default=None, help="at most this many targets")
    p.add_argument("--server", default=None, help="hips2fits URL (default: the CDS service)")
    p.add_argument(
        "--timeout",
        type=float,
        default=Default(client, "timeout"),
        help="seconds per request (%(default)s)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=Default(client, "retries"),
        help="attempts after the first (%(default)s)",
    )
    p.add_argument("--rate", type=float, default=Default(client, "rate"),
                   help="requests per second at most (%(default)s)")  # fmt: skip


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        parents=[common_options()],
        help="train or load two-way recipes on the same data and seed, score them in one table",
    )
    p.add_argument("recipes", nargs="+", help="recipe files or names (configs/twoway/*.yaml)")
    p.add_argument("--data", required=True, metavar="MANIFEST", help="two-way manifest")
    _add_overrides(p, "overrides shared by every recipe")
    p.add_argument("--workdir", default="compare")
    p.add_argument("--split", default="test", help="manifest split to score on (test)")
    p.add_argument("--seed", type=int, default=None, help="seed for every recipe (their own)")
    p.add_argument("--band", default="r", help="band of the galaxy-property measurements (r)")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="load a method's existing last.ckpt instead of training",
    )
    p.add_argument("--overwrite", action="store_true")


def _add_ablation(sub) -> None:
    p = sub.add_parser(
        "ablation",
        parents=[common_options()],
        help="train a recipe with several input sets, compare",
    )
    p.add_argument("recipe")
    p.add_argument(
        "--inputs",
        nargs="+",
        required=True,
        metavar="BANDS",
        help='comma-separated input columns per variant, e.g. "dss2" "dss2,2mass"',
    )
    _add_overrides(p, "overrides shared by every variant")
    p.add_argument("--workdir", default="ablation")
    p.add_argument("--split", default="test", help="manifest split to score on (test)")
    p.add_argument("--overwrite", action="store_true")


def _add_import_panels(sub) -> None:
    p = sub.add_parser(
        "import-panels",
        parents=[common_options()],
        help="split side-by-side survey panels (pix2pix-style PNG/FITS) into FITS + manifest",
    )
    p.add_argument("images", nargs="+", help="PNG, JPEG or FITS files, K panels side by side")
    p.add_argument("--names", required=True, help="panel names left to right, e.g. dss2,2mass,sdss")
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="train=0.8,val=0.1,test=0.1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")


def _add_evaluate_split(sub) -> None:
    p = sub.add_parser(
        "evaluate-split",
        parents=[common_options()],
        help="score a model on a manifest split next to baselines, per group",
    )
    p.add_argument("checkpoint", help="trained checkpoint (or export)")
    p.add_argument("--manifest", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--group-by", default=None, metavar="COLUMN", help="manifest column to group by")
    p.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="COLUMN",
        help="manifest columns scored as further methods (e.g. clean against truth_beam)",
    )
    p.add_argument(
        "--range-space",
        action="store_true",
        help="also score in the exposure + training-range [0, 1] space (published STIX metric)",
    )
    p.add_argument("--out", required=True, help="report folder (predictions, metrics, summary)")
    p.add_argument("--overwrite", action="store_true")


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        parents=[common_options()],
        help="export a checkpoint as ONNX or safetensors + JSON",
    )
    p.add_argument("checkpoint")
    p.add_argument("--format", required=True, choices=["onnx", "safetensors"])
    p.add_argument("-o", "--output", default=None, help="default: the checkpoint's name")
    p.add_argument("--overwrite", action="store_true")


def _add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        parents=[common_options()],
        help="calibrate a model on held-out pairs (its correction's weight, σ by split "
        "conformal); writes a new model",
    )
    p.add_argument("checkpoint", help="checkpoint, export, or packaged model name")
    p.add_argument("--manifest", required=True, help="manifest with the model's input and "
                   "target columns")  # fmt: skip
    p.add_argument("--split", default="val", help="rows to calibrate on (default: %(default)s)")
    p.add_argument("-o", "--output", default=None,
                   help="new model file (default: NAME.calibrated.EXT beside it)")  # fmt: skip
    p.add_argument("--device", default=None, help="cpu, cuda … (default: cuda if present)")
    p.add_argument("--seed", type=int, default=0, help="seed of inpainting holes and subsets")
    p.add_argument("--keep-correction", action="store_true",
                   help="keep the stored weight of the model's correction to its classical "
                   "answer instead of choosing it again on these pairs")  # fmt: skip
    p.add_argument("--no-offset", action="store_true",
                   help="keep the σ network's shape: no offset added to σ and no power "
                   "taken of it before the conformal scaling (by default both are chosen by "
                   "the 95 %% interval score)")  # fmt: skip
    p.add_argument("--finish", choices=("photometry", "psnr"), default=None,
                   help="two-way models: how the flux anchoring and the smooth background "
                   "are chosen; photometry (default): the highest PSNR among the choices "
                   "whose galaxy fluxes are no worse than regrid's; psnr: the highest "
                   "PSNR")  # fmt: skip
    p.add_argument("--overwrite", action="store_true")


def _add_inspect(sub) -> None:
    p = sub.add_parser(
        "inspect",
        parents=[common_options()],
        help="a FITS file (HDUs, shape, bands, unit, WCS, NaN fraction, statistics) or a model "
        "(bands and units in and out, coordinates, stretches, baseline, σ calibration)",
    )
    p.add_argument("file", help="a FITS file, or a model (.ckpt, .safetensors, .onnx, or a "
                   "packaged name)")  # fmt: skip


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
        add_simulate,
        _add_fetch,
        _add_ablation,
        _add_compare,
        _add_import_panels,
        _add_evaluate_split,
        _add_export,
        _add_calibrate,
        _add_inspect,
    ):
        add(sub)
    return parser
