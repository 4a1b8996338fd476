"""``astroi2i translate``: one file (``-o``) or many (``--out-dir``)."""

from __future__ import annotations

import shlex

__all__ = ["run_translate"]


def run_translate(args) -> int:
    from astroi2i.errors import InputError

    command = "astroi2i " + shlex.join(args.argv)
    if args.no_sigma and args.uncalibrated:
        raise InputError("--no-sigma writes no σ, so there is none to leave uncalibrated")
    if args.out_dir is not None or args.manifest is not None:
        return _run_batch_translate(args, command)
    if args.output is None or not args.inputs:
        raise InputError("give input file(s) and -o OUT.fits, or --out-dir DIR for many files")
    from astroi2i.cli.parser import given

    batch_only = given(args, devices="--devices", workers="--workers", batch_size="--batch-size")
    if batch_only or args.split is not None:
        option = next(iter(batch_only), "--split")
        raise InputError(f"{option} is for many files (--out-dir)")
    from astroi2i.workflows.translate import translate

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
        mask=args.mask,
        to=args.to,
        seed=args.seed,
        noise=not args.no_noise,
        background=not args.no_smooth_background,
        flux_anchor=True if args.flux_from_regrid else None,
        calibrated=not args.uncalibrated,
        sigma=not args.no_sigma,
    )
    print(f"wrote {out}")
    if args.conserve_flux:
        from astroi2i.workflows.flux import total_flux_ratio

        ratios = total_flux_ratio(out, args.inputs)
        print("total flux, output / input: " + ", ".join(f"{r:.4f}" for r in ratios))
    return 0


def _run_batch_translate(args, command: str) -> int:
    from astroi2i.errors import InputError
    from astroi2i.workflows.batch_translate import batch_translate

    if args.output is not None or args.out_dir is None:
        raise InputError("many files go to a folder: give --out-dir DIR, not -o")
    if args.mask is not None or args.conserve_flux:
        raise InputError("--mask and --conserve-flux are for one translation (-o OUT.fits)")
    if args.manifest is None and args.split is not None:
        raise InputError("--split goes with --manifest")
    from astroi2i.cli.parser import given

    options = given(args, devices="devices", workers="workers", batch_size="batch_size")
    from astroi2i.workflows.batch_launch import launcher

    if launcher(options.get("devices", 1), args.device) == "fabric":  # imports Lightning
        from astroi2i.cli.main import _tame_lightning

        _tame_lightning()
    result = batch_translate(
        args.checkpoint, inputs=args.inputs, manifest=args.manifest, split=args.split,
        out_dir=args.out_dir, overwrite=args.overwrite, device=args.device, **options,
        tile=args.tile, overlap=args.overlap, align=args.align, reference=args.reference,
        calibrated=not args.uncalibrated, sigma=not args.no_sigma, to=args.to, seed=args.seed,
        noise=not args.no_noise, background=not args.no_smooth_background,
        flux_anchor=True if args.flux_from_regrid else None, command=command,
        progress=not args.quiet,
    )  # fmt: skip
    if result.rank != 0:  # a sharded run reports once
        return 0 if result.ok else 1
    rate = (result.written / result.seconds) if result.seconds else 0.0
    print(f"{result.total} file(s): {result.written} written, {result.skipped} complete "
          f"already, {len(result.failed)} failed; {result.seconds:.1f} s "
          f"({rate:.2f} written/s) → {result.out_dir}")  # fmt: skip
    if result.failed:
        for key, reason in list(sorted(result.failed.items()))[:5]:
            print(f"  failed {key}: {reason}")
        print(f"failures listed in {result.failures_csv}")
        return 1
    return 0
