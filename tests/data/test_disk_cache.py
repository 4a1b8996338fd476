"""``data.cache: disk``: the same samples as in memory, value for value; a cache reused only for
the same data; resident memory that does not grow with the data read."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from astroi2i.data.datasets import PairedDataset, load_pairs
from astroi2i.data.disk_cache import build_cache, open_cache
from astroi2i.data.stretches import AsinhStretch
from astroi2i.io import read_manifest


@pytest.fixture(scope="module")
def pairs(survey_pair):
    manifest = read_manifest(survey_pair)
    found = load_pairs(manifest, "train", ["shallow_g", "shallow_r"], ["deep_r"])
    s_in = AsinhStretch().fit([p.inputs.data for p in found])
    s_out = AsinhStretch().fit([p.target.data for p in found])
    return found, s_in, s_out


@pytest.mark.parametrize("crop_size, holes", [(32, None), (None, None), (32, {"block": 8})])
def test_disk_cached_samples_equal_the_in_memory_ones(pairs, tmp_path, crop_size, holes):
    found, s_in, s_out = pairs
    common = dict(input_stretch=s_in, target_stretch=s_out, crop_size=crop_size, seed=3,
                  augment=True, crops_per_image=3, holes=holes)  # fmt: skip
    memory = PairedDataset(found, **common)
    disk = PairedDataset(iter(found), cache=(tmp_path / "c", "fp"), **common)  # streamed in
    assert len(disk) == len(memory) and disk.keys == memory.keys
    for epoch in (0, 1):
        memory.set_epoch(epoch)
        disk.set_epoch(epoch)
        for i in range(len(memory)):
            a, b = memory[i], disk[i]
            assert set(a) == set(b)
            for key in a:
                if key == "key":
                    assert a[key] == b[key]
                else:
                    assert a[key].dtype == b[key].dtype
                    np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())


def test_a_cache_is_reused_for_the_same_data_and_rebuilt_for_other(pairs, tmp_path):
    found, s_in, s_out = pairs
    folder = tmp_path / "c"
    PairedDataset(found, input_stretch=s_in, target_stretch=s_out, cache=(folder, "one"))
    stamp = (folder / "index.json").stat().st_mtime_ns

    def refuse(*_):
        raise AssertionError("the cache was rebuilt")

    again = PairedDataset(map(refuse, found), input_stretch=s_in, target_stretch=s_out,
                          cache=(folder, "one"))  # fmt: skip
    assert len(again) == len(found) and (folder / "index.json").stat().st_mtime_ns == stamp
    PairedDataset(found, input_stretch=s_in, target_stretch=s_out, cache=(folder, "two"))
    assert open_cache(folder, "one") is None and open_cache(folder, "two") is not None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_build_that_fails_leaves_no_cache(tmp_path):
    def samples():
        yield "a", np.ones((1, 8, 8), "f4"), None, np.zeros((8, 8), bool)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        build_cache(samples(), tmp_path / "c", "fp")
    assert not any(tmp_path.iterdir())


def test_reading_a_cache_larger_than_the_limit_keeps_memory_bounded(tmp_path):
    """320 MB of samples read three times, whole and in crops, in a fresh process: its peak
    resident memory grows by far less than the data (a kept memory map would hold it all)."""
    rng = np.random.default_rng(0)

    def samples():
        for i in range(36):  # 36 × (4 + 4 + 1) MB
            x = rng.normal(size=(1, 1024, 1024)).astype("f4")
            yield f"s{i}", x, x * 2, np.zeros((1024, 1024), bool)

    build_cache(samples(), tmp_path / "c", "fp", shard_bytes=64 << 20)
    limit_mb = 100
    script = textwrap.dedent(f"""
        from astroi2i.data.disk_cache import open_cache

        def hwm():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) // 1024

        cache = open_cache({str(tmp_path / "c")!r}, "fp")
        start, total = hwm(), 0.0
        for _ in range(3):
            for key, x, y, mask in cache:
                total += float(x[:, 100:164, 200:264].sum()) + float(y[:].sum())
                total += float(mask[:].sum())
        print(hwm() - start, total)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)  # fmt: skip
    grown_mb = int(run.stdout.split()[0])
    assert grown_mb < limit_mb, f"peak RSS grew by {grown_mb} MB reading 324 MB"


def test_a_disk_cached_loader_resumes_mid_epoch_and_shards_by_rank(pairs, tmp_path):
    """The resumable loader over the disk cache: continuing after 2 batches gives the rest of
    the epoch; two ranks together see the one-rank epoch's samples (with workers reading)."""
    from astroi2i.data.datamodule import ResumableLoader

    found, s_in, s_out = pairs
    data = PairedDataset(found, input_stretch=s_in, target_stretch=s_out, crop_size=32,
                         augment=True, crops_per_image=4, cache=(tmp_path / "c", "fp"))  # fmt: skip

    def batches(loader):
        return [b["inputs"].numpy().copy() for b in loader]

    full = batches(ResumableLoader(data, batch_size=2, shuffle=True, seed=5, num_workers=1))
    resumed = ResumableLoader(data, batch_size=2, shuffle=True, seed=5, num_workers=1)
    resumed.load_state_dict({"epoch": 0, "batches": 2})
    tail = batches(resumed)
    assert len(tail) == len(full) - 2
    for a, b in zip(full[2:], tail):
        np.testing.assert_array_equal(a, b)
    shards = [batches(ResumableLoader(data, batch_size=1, shuffle=False, seed=5, rank=r,
                                      world_size=2)) for r in (0, 1)]  # fmt: skip
    one = batches(ResumableLoader(data, batch_size=1, shuffle=False, seed=5))
    merged = [x for pair in zip(*shards) for x in pair][: len(one)]
    for a, b in zip(merged, one):
        np.testing.assert_array_equal(a, b)


def test_a_cache_rebuilt_under_the_same_name_is_read_afresh(tmp_path):
    def samples(value):
        yield "a", np.full((1, 4, 4), value, "f4"), None, np.zeros((4, 4), bool)

    first = build_cache(samples(1.0), tmp_path / "c", "one")
    assert first[0][1][:, 1:3, :].max() == 1.0  # read once: a descriptor is kept
    second = build_cache(samples(2.0), tmp_path / "c", "two")
    assert second[0][1][:, 1:3, :].max() == 2.0
