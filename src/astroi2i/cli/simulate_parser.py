"""``astroi2i simulate``'s sub-parsers: survey-pair, stix, coronagraph, holes."""

from __future__ import annotations

from astroi2i.cli.defaults import Default

__all__ = ["add_simulate"]


def add_simulate(sub) -> None:
    from astroi2i.cli.parser import common_options

    p = sub.add_parser(
        "simulate", parents=[common_options()], help="make training data by simulation"
    )
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    s = kinds.add_parser(
        "survey-pair",
        parents=[common_options()],
        help="LR/HR pairs: PSF matching, flux-conserving rebinning, sky/Poisson/read noise; "
        "or, with --preset, galaxy stamps of two surveys (GalSim)",
    )
    s.add_argument("images", nargs="*", help="sharp (high-resolution) FITS images")
    s.add_argument(
        "--preset",
        default=None,
        choices=["sdss-cfht", "splus-legacy"],
        help="simulate stamps of a survey pair instead (GalSim): sdss-cfht = one galaxy, SDSS "
        '64² 0.396"/px ↔ CFHT 136² 0.187"/px, ugriz, paired and unpaired; splus-legacy = '
        'fields, S-PLUS 128² 0.55"/px → Legacy 256² 0.275"/px, grz, for super-resolution',
    )
    galaxies, deg = "workflows.simulate:simulate_galaxy_survey_pair", "sources.degrade:Degradation"
    s.add_argument(
        "--paired",
        type=int,
        default=Default(galaxies, "paired"),
        help="--preset: paired train stamps (%(default)s)",
    )
    s.add_argument(
        "--unpaired",
        type=int,
        default=Default(galaxies, "unpaired"),
        help="--preset: unpaired, per survey (default: sdss-cfht 300, splus-legacy 0)",
    )
    s.add_argument(
        "--val",
        type=int,
        default=Default(galaxies, "val"),
        help="--preset: paired validation galaxies (default: sdss-cfht 60, splus-legacy 20)",
    )
    s.add_argument(
        "--test",
        type=int,
        default=Default(galaxies, "test"),
        help="--preset: paired test galaxies (%(default)s)",
    )
    s.add_argument("--out", required=True)
    s.add_argument(
        "--factor", type=int, default=Default(deg, "factor"), help="rebinning factor (%(default)s)"
    )
    s.add_argument(
        "--psf-in",
        type=float,
        default=Default(deg, "psf_in_fwhm"),
        help="input PSF FWHM, input pixels (%(default)s)",
    )
    s.add_argument(
        "--psf-out",
        type=float,
        default=Default(deg, "psf_out_fwhm"),
        help="output PSF FWHM, input pixels (%(default)s)",
    )
    s.add_argument(
        "--moffat-beta",
        type=float,
        default=Default(deg, "moffat_beta"),
        help="Moffat output PSF (β; default %(default)s: Gaussian)",
    )
    s.add_argument("--psf-file", default=None, help="a PSF FITS image used as the kernel")
    s.add_argument(
        "--sky",
        type=float,
        default=Default(deg, "sky"),
        help="sky per output pixel, data units (%(default)s)",
    )
    s.add_argument(
        "--gain",
        type=float,
        default=Default(deg, "gain"),
        help="e- per data unit (%(default)s; 0: no Poisson noise)",
    )
    s.add_argument(
        "--read-noise",
        type=float,
        default=Default(deg, "read_noise"),
        help="σ per output pixel (%(default)s)",
    )
    s.add_argument(
        "--depth-ratio",
        type=float,
        default=Default(deg, "depth_ratio"),
        metavar="DMAG",
        help="then add noise until the output's point-source depth is DMAG magnitudes "
        "shallower than the input's (measured background σ; needs --psf-in, --psf-out)",
    )  # fmt: skip
    s.add_argument("--split", default="train=0.8,val=0.1,test=0.1")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--overwrite", action="store_true")
    t = kinds.add_parser(
        "stix",
        parents=[common_options()],
        help="STIX back-projection/CLEAN pairs of random flares (xrayvision, real uv coverage)",
    )
    t.add_argument("--out", required=True)
    t.add_argument("--n", type=int, required=True, help="number of observations")
    t.add_argument("--seed", type=int, default=0)
    imaging, stix = "sources.stix:StixImaging", "workflows.simulate_stix:simulate_stix"
    t.add_argument(
        "--map-size",
        type=int,
        default=Default(imaging, "map_size"),
        help="BP map size, pixels (%(default)s)",
    )
    t.add_argument(
        "--pixel-size",
        type=float,
        default=Default(imaging, "pixel_size"),
        help="arcsec per pixel (%(default)s)",
    )
    t.add_argument(
        "--clean-size",
        type=int,
        default=Default(imaging, "clean_size"),
        help="CLEAN map size (default: map size + 1)",
    )
    t.add_argument(
        "--clean-beam",
        type=float,
        default=Default(imaging, "clean_beam_fwhm"),
        help="clean beam FWHM, arcsec (%(default)s)",
    )
    t.add_argument(
        "--niter",
        type=int,
        default=Default(imaging, "niter"),
        help="CLEAN iterations at most (%(default)s)",
    )
    t.add_argument(
        "--clean-threshold",
        type=float,
        default=Default(imaging, "threshold"),
        help="CLEAN stops when the largest residual is ≤ this × the map noise σ (%(default)s)",
    )
    t.add_argument(
        "--gain", type=float, default=Default(imaging, "gain"), help="CLEAN loop gain (%(default)s)"
    )
    t.add_argument(
        "--exposure",
        type=float,
        default=Default(stix, "exposure"),
        help="integration time, s (%(default)s)",
    )
    t.add_argument(
        "--flux",
        type=float,
        nargs=2,
        default=Default(stix, "flux_range"),
        metavar=("MIN", "MAX"),
        help="total count-rate range, ct/(cm² keV s), log-uniform (%(default)s)",
    )
    t.add_argument("--background", type=float, default=Default(stix, "background"),
                   help="background rate (%(default)s)")  # fmt: skip
    t.add_argument("--split", default="train=0.8,val=0.1,test=0.1")
    t.add_argument("--workers", type=int, default=Default(stix, "workers"),
                   help="processes (%(default)s)")  # fmt: skip
    t.add_argument("--overwrite", action="store_true")
    c = kinds.add_parser(
        "coronagraph",
        parents=[common_options()],
        help="synthetic LASCO C3-like scenes (occulter, pylon, corona, streamers, CMEs, stars)",
    )
    c.add_argument("--out", required=True)
    c.add_argument("--n", type=int, required=True)
    c.add_argument("--size", type=int,
                   default=Default("workflows.simulate:simulate_coronagraph", "size"),
                   help="image edge, pixels (%(default)s)")  # fmt: skip
    c.add_argument("--split", default="train=0.8,val=0.1,test=0.1")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--overwrite", action="store_true")
    h = kinds.add_parser(
        "holes",
        parents=[common_options()],
        help="cut random 32n×32n blocks out of images (damaged, holes and truth FITS)",
    )
    h.add_argument("images", nargs="+")
    h.add_argument("--out", required=True)
    holes = "workflows.simulate:simulate_holes"
    h.add_argument(
        "--block",
        type=int,
        default=Default(holes, "block"),
        help="block edge, pixels (%(default)s)",
    )
    h.add_argument(
        "--max-blocks",
        type=int,
        default=Default(holes, "max_blocks"),
        help="blocks per image at most (%(default)s)",
    )
    h.add_argument("--max-size", type=int, default=Default(holes, "max_size"),
                   help="largest block, in units of --block (%(default)s)")  # fmt: skip
    h.add_argument("--zeros", action="store_true", help="exact zeros instead of NaN")
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--overwrite", action="store_true")
