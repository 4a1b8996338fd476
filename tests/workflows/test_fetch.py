"""fetch against a local stand-in for hips2fits on 127.0.0.1 (no internet): valid cutouts,
HTTP errors, slow answers and truncated bodies; resuming from the cache."""

import io
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astroi2i.cli.main import main
from astroi2i.io import read_image, read_manifest
from astroi2i.sky import same_grid
from astroi2i.sources.hips import HipsClient, Target, ngc_targets
from astroi2i.workflows.fetch import fetch


class FakeHips2Fits(BaseHTTPRequestHandler):
    counts: dict = {}
    lock = threading.Lock()

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        hips = query["hips"][0]
        header = fits.Header(json.loads(query["wcs"][0]))
        key = (hips, round(float(header["CRVAL1"]), 6))
        with self.lock:
            n = self.counts[key] = self.counts.get(key, 0) + 1
        if hips == "TEST/slow":
            time.sleep(1.0)
        if hips == "TEST/flaky" and n <= 2:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"<html>busy</html>")
            return
        ny, nx = int(header["NAXIS2"]), int(header["NAXIS1"])
        wcs = WCS(header)
        data = np.add.outer(np.arange(ny), np.arange(nx)).astype(">f4") + len(hips)
        out = fits.PrimaryHDU(data, header=wcs.to_header())
        out.header["BUNIT"] = "DN"
        buffer = io.BytesIO()
        fits.HDUList([out]).writeto(buffer)
        payload = buffer.getvalue()
        if hips == "TEST/trunc" and n == 1:
            payload = payload[: len(payload) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/fits")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def server():
    FakeHips2Fits.counts = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeHips2Fits)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hips2fits"
    httpd.shutdown()
    httpd.server_close()


TARGETS = [
    Target("NGC 1", 1.8, 27.7, 0.05),
    Target("M 51", 202.47, 47.2, 0.1),
    Target("far", 300.0, -40.0, 0.05),
]


def _client(url, **kw):
    return HipsClient(
        server=url, **{"timeout": 5, "retries": 3, "backoff": 0.01, "rate": 200, **kw}
    )


def test_fetch_retries_validates_and_resumes(server, tmp_path):
    surveys = {"a": "TEST/ok", "b": "TEST/flaky", "c": "TEST/trunc"}
    client = _client(server)
    result = fetch(TARGETS, surveys, tmp_path, pixels=32, client=client)
    assert result.complete == 3 and not result.failed and result.downloaded == 9
    assert client.requests == 9 + 2 * 3 + 1 * 3  # flaky: 2 errors each, trunc: 1 bad body each
    manifest = read_manifest(result.manifest)
    assert set(manifest.table.colnames) >= {"split", "id", "a", "b", "c", "ra", "dec"}
    for row in manifest.table:
        a, b, c = (read_image(manifest.cell(row, s)[0]) for s in "abc")
        assert a.shape == (32, 32) and same_grid(a, b) and same_grid(a, c)
        assert str(a.unit) == "DN" and a.header["SURVEY"] == "TEST/ok"
    again = _client(server)
    second = fetch(TARGETS, surveys, tmp_path, pixels=32, client=again)
    assert second.cached == 9 and second.downloaded == 0 and again.requests == 0


def test_failures_are_reported_and_the_run_goes_on(server, tmp_path):
    surveys = {"a": "TEST/ok", "slow": "TEST/slow"}
    client = _client(server, timeout=0.3, retries=1)
    result = fetch(TARGETS[:2], surveys, tmp_path, pixels=16, client=client)
    assert result.complete == 0 and set(result.failed) == {"NGC 1", "M 51"}
    assert "2 attempts failed" in result.failed["NGC 1"]
    assert not list(tmp_path.rglob("slow.fits")) and not (tmp_path / "manifest.csv").exists()


def test_fetch_cli(server, tmp_path, capsys):
    (tmp_path / "t.csv").write_text(
        "name,ra,dec,fov_arcmin\nNGC 1,1.8,27.7,3\nM 51,202.47,47.2,6\n"
    )
    code = main(
        [
            "fetch",
            "--targets",
            str(tmp_path / "t.csv"),
            "--survey",
            "r=TEST/ok",
            "k=TEST/flaky",
            "--out",
            str(tmp_path / "out"),
            "--pixels",
            "16",
            "--server",
            server,
            "--rate",
            "100",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "complete: 2" in out and "failed targets: 0" in out


def test_ngc_targets_offline():
    targets = ngc_targets(["NGC5194", "NGC0224"])
    m51 = targets[0]
    assert m51.name == "NGC5194" and abs(m51.ra - 202.47) < 0.1 and abs(m51.dec - 47.2) < 0.1
    assert m51.fov_deg > 13.0 / 60  # 1.5 × its 13.7′ major axis


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("M 51,abc,47.2,6", "target 'M 51': ra is 'abc', not a number"),
        ("M 51,202.47,95,6", "target 'M 51': dec is 95, outside [-90, 90]"),
        ("M 51,-10,47.2,6", "ra is -10, outside [0, 360]"),
        ("M 51,202.47,47.2,0", "fov_arcmin must be positive"),
    ],
)
def test_bad_coordinates_are_one_line(row, message, tmp_path, capsys):
    from tests.cli.test_cli import assert_one_line_error

    (tmp_path / "t.csv").write_text(f"name,ra,dec,fov_arcmin\n{row}\n")
    code = main(["fetch", "--targets", str(tmp_path / "t.csv"), "--survey", "r=TEST/ok",
                 "--out", str(tmp_path / "out"), "--server", "http://127.0.0.1:9"])  # fmt: skip
    assert_one_line_error(code, capsys.readouterr().err, message)
    assert not (tmp_path / "out").exists()
