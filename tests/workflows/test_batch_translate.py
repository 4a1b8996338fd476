"""Many files in one translate call: the same pixels as single-file translates, resumable,
failures listed and the run carried on, sharded over two gloo processes with the same files."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astroi2i.cli.main import main
from astroi2i.workflows.batch_translate import batch_translate, output_is_complete
from astroi2i.workflows.model import describe
from astroi2i.workflows.translate import translate

MODEL = "stix-bp2clean"  # packaged: a real trained U-Net with σ, no training needed


def _bp(path, size=(64, 64), width=5.0, seed=0):
    w = WCS(naxis=2)
    w.wcs.ctype, w.wcs.cunit = ["HPLN-TAN", "HPLT-TAN"], ["arcsec", "arcsec"]
    w.wcs.crpix = [(size[1] + 1) / 2, (size[0] + 1) / 2]
    w.wcs.cdelt, w.wcs.crval = [1.0, 1.0], [-500.0, 300.0]
    header = w.to_header()
    header["EXPTIME"] = 60.0
    y, x = np.mgrid[0 : size[0], 0 : size[1]]
    r = np.hypot(x - size[1] / 2, y - size[0] / 2)
    rng = np.random.default_rng(seed)
    bp = 600.0 * np.exp(-0.5 * (r / width) ** 2) + rng.normal(0, 5, size)
    fits.PrimaryHDU(bp.astype("f4"), header).writeto(path)
    return path


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    """Five 64² BP maps, one 300×280 map (several 256² tiles with --tile 256), a manifest."""
    folder = tmp_path_factory.mktemp("batch_maps")
    paths = [_bp(folder / f"bp{i}.fits", width=3.0 + i, seed=i) for i in range(5)]
    big = _bp(folder / "big.fits", size=(300, 280), width=20.0, seed=9)
    with open(folder / "m.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["split", "id", "bp"])
        for i, p in enumerate(paths):
            out.writerow(["test" if i % 2 == 0 else "val", f"m{i}", p.name])
    return folder, paths, big


def _pixels(path):
    with fits.open(path) as hdul:
        return [h.data.copy() for h in hdul if h.data is not None]


def _same(a, b):
    pa, pb = _pixels(a), _pixels(b)
    return len(pa) == len(pb) and all(np.array_equal(x, y, equal_nan=True) for x, y in zip(pa, pb))


def _same_but_rounding(a, b):
    """Equal to float32 rounding: a process that runs torch on fewer threads sums a
    convolution in another order on some CPUs (here: one ulp, ~1e-7 of the map's peak)."""
    pa, pb = _pixels(a), _pixels(b)
    if len(pa) != len(pb):
        return False
    for x, y in zip(pa, pb):
        if x.dtype.kind != "f":
            if not np.array_equal(x, y):
                return False
        elif not np.array_equal(np.isnan(x), np.isnan(y)):
            return False
        elif not np.allclose(x, y, rtol=0, atol=1e-6 * np.nanmax(np.abs(y)), equal_nan=True):
            return False
    return True


@pytest.fixture(scope="module")
def singles(maps, tmp_path_factory):
    folder, paths, big = maps
    out = tmp_path_factory.mktemp("singles")
    for p in paths:
        translate(MODEL, [p], out / p.name)
    translate(MODEL, [big], out / big.name, tile=256)
    return out


def test_batch_equals_single_file_translates_bit_for_bit(maps, singles, tmp_path):
    folder, paths, big = maps
    result = batch_translate(MODEL, inputs=[*paths, big], out_dir=tmp_path, tile=256,
                             progress=False)  # fmt: skip
    assert (result.written, result.skipped, result.failed) == (6, 0, {})
    for p in [*paths, big]:
        assert _same(tmp_path / p.name, singles / p.name), p.name
        a, b = fits.getheader(tmp_path / p.name), fits.getheader(singles / p.name)
        for key in ("BUNIT", "CTYPE1", "CRPIX1", "CRVAL2", "CDELT1", "DATE-OBS", "NAXIS1"):
            assert a.get(key) == b.get(key), key
        assert output_is_complete(tmp_path / p.name, describe(MODEL).sha256) is True
    assert not (tmp_path / "failures.csv").exists()


def test_manifest_split_names_outputs_by_id(maps, singles, tmp_path, capsys):
    folder, paths, _ = maps
    code = main(["translate", MODEL, "--manifest", str(folder / "m.csv"), "--split", "test",
                 "--out-dir", str(tmp_path), "-q"])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m0.fits", "m2.fits", "m4.fits"]
    assert _same(tmp_path / "m2.fits", singles / "bp2.fits")
    assert "3 file(s): 3 written" in capsys.readouterr().out


def test_rerun_skips_complete_outputs_and_redoes_a_truncated_one(maps, singles, tmp_path):
    _, paths, _ = maps
    batch_translate(MODEL, inputs=paths, out_dir=tmp_path, progress=False)
    victim = tmp_path / paths[1].name
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # a copy cut short
    sha = describe(MODEL).sha256
    # half the bytes may end exactly after the image HDU (image and σ headers of one size):
    # a complete FITS file, but without the σ extension this model writes
    assert output_is_complete(victim, sha, ("UNCERT",)) is False
    before = os.stat(tmp_path / paths[0].name).st_mtime_ns
    again = batch_translate(MODEL, inputs=paths, out_dir=tmp_path, progress=False)
    assert (again.written, again.skipped) == (1, 4)
    assert os.stat(tmp_path / paths[0].name).st_mtime_ns == before  # not rewritten
    assert _same(victim, singles / paths[1].name)
    forced = batch_translate(MODEL, inputs=paths, out_dir=tmp_path, overwrite=True,
                             progress=False)  # fmt: skip
    assert (forced.written, forced.skipped) == (5, 0)


def test_an_output_of_another_model_is_not_replaced_silently(maps, tmp_path):
    _, paths, _ = maps
    fits.PrimaryHDU(np.zeros((4, 4), "f4")).writeto(tmp_path / paths[0].name)
    result = batch_translate(MODEL, inputs=paths[:2], out_dir=tmp_path, progress=False)
    assert result.written == 1 and list(result.failed) == ["bp0"]
    assert "not written by this model" in result.failed["bp0"]
    assert fits.getdata(tmp_path / paths[0].name).shape == (4, 4)


def test_bad_files_are_listed_and_the_good_ones_written(maps, tmp_path, capsys):
    folder, paths, _ = maps
    bad = tmp_path / "in" / "broken.fits"
    bad.parent.mkdir()
    bad.write_text("not a FITS file")
    nan = tmp_path / "in" / "nan.fits"
    fits.PrimaryHDU(np.full((64, 64), np.nan, "f4"), fits.getheader(paths[0])).writeto(nan)
    out = tmp_path / "out"
    code = main(["translate", MODEL, str(paths[0]), str(bad), str(nan), str(paths[1]),
                 "--out-dir", str(out), "-q"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1
    assert "4 file(s): 2 written, 0 complete already, 2 failed" in printed
    assert sorted(p.name for p in out.glob("*.fits")) == ["bp0.fits", "bp1.fits"]
    with open(out / "failures.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"broken", "nan"}
    assert "not a readable FITS file" in rows["broken"]["reason"]
    assert "no valid pixel" in rows["nan"]["reason"] and rows["nan"]["inputs"] == str(nan)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left
    bad.unlink()
    nan.unlink()  # a rerun without the bad files: everything complete, the old list removed
    assert main(["translate", MODEL, str(paths[0]), str(paths[1]), "--out-dir", str(out),
                 "-q"]) == 0  # fmt: skip
    assert not (out / "failures.csv").exists()


def test_an_output_folder_that_is_a_file_is_a_one_line_error(maps, tmp_path, capsys):
    _, paths, _ = maps
    target = tmp_path / "out"
    target.write_text("a file")
    code = main(["translate", MODEL, str(paths[0]), "--out-dir", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "is a file" in err
    assert target.read_text() == "a file"


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["IN", "--out-dir", "D", "-o", "x.fits"], "not -o"),
        (["IN", "--manifest", "M", "--out-dir", "D"], "not both"),
        (["IN", "--out-dir", "D", "--batch-size", "0"], "--batch-size 0"),
        (["IN", "-o", "x.fits", "--devices", "2"], "--devices is for many files"),
        (["IN", "--out-dir", "D", "--split", "test"], "--split goes with --manifest"),
    ],
)
def test_batch_options_that_do_not_fit_are_refused(argv, fragment, maps, tmp_path, capsys):
    folder, paths, _ = maps
    subst = {"IN": str(paths[0]), "D": str(tmp_path / "d"), "M": str(folder / "m.csv")}
    code = main(["translate", MODEL, *[subst.get(a, a) for a in argv]])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def test_batches_of_several_images_agree_within_float_rounding(maps, singles, tmp_path):
    _, paths, _ = maps
    result = batch_translate(MODEL, inputs=paths, out_dir=tmp_path, batch_size=3,
                             progress=False)  # fmt: skip
    assert result.written == 5
    for p in paths:
        for a, b in zip(_pixels(tmp_path / p.name), _pixels(singles / p.name)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.nanmax(np.abs(b)))


@pytest.mark.slow
@pytest.mark.parametrize("launch", ["fork", "torchrun"])
def test_two_processes_write_the_files_of_one(maps, singles, tmp_path, launch):
    """``--devices 2`` on a CPU forks two processes; under torchrun Lightning Fabric takes the
    launcher's two processes and their gloo group (the GPU and SLURM path)."""
    folder, paths, _ = maps
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    args = ["translate", MODEL, *map(str, paths), "--out-dir", str(tmp_path), "--device", "cpu",
            "-q"]  # fmt: skip
    if launch == "fork":
        cmd = [sys.executable, "-m", "astroi2i", *args, "--devices", "2"]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "--master-port", str(_free_port()), "-m", "astroi2i", *args]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-8000:]
    assert run.stdout.count("5 file(s): 5 written") == 1  # rank 0 reports, once
    for p in paths:  # each process runs torch on one thread, the single translates on two
        assert _same_but_rounding(tmp_path / p.name, singles / p.name), p.name


def _free_port() -> int:
    """A port no socket holds now (a fixed one can still be held by the previous run's)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_missing_model_or_manifest_leaves_no_output_folder(maps, tmp_path, capsys):
    folder, paths, _ = maps
    out = tmp_path / "out"
    assert main(["translate", str(tmp_path / "nope.ckpt"), str(paths[0]), "--out-dir",
                 str(out)]) == 2  # fmt: skip
    assert main(["translate", MODEL, "--manifest", str(tmp_path / "no.csv"), "--out-dir",
                 str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and "manifest not found" in err
    assert not out.exists()


def _rank_run(*, out_dir, die, device, rank, world, record_failures):
    """A stand-in for one process's share: rank ``die`` is killed before it reports."""
    from astroi2i.workflows.batch_translate import BatchResult

    if rank == die:
        os._exit(3)
    return BatchResult(out_dir, total=world, written=1, rank=rank)


@pytest.mark.skipif(sys.platform != "linux", reason="forked CPU processes are Linux-only")
def test_forked_processes_merge_their_counts_and_a_killed_one_is_an_error(tmp_path):
    """The forked shards' counts are summed; a process that dies without reporting (killed
    for memory, a signal) stops the run with its exit code instead of waiting forever."""
    from astroi2i.workflows.batch_launch import run_forked

    merged = run_forked(_rank_run, processes=2, kwargs={"out_dir": tmp_path, "die": None})
    assert (merged.written, merged.rank, merged.ok) == (2, 0, True)
    from astroi2i.errors import ProcessDied

    with pytest.raises(ProcessDied, match=r"process 1 of 2 .*exit code 3"):
        run_forked(_rank_run, processes=2, kwargs={"out_dir": tmp_path, "die": 1})
