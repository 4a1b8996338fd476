import numpy as np
import pytest
from astropy.table import Table

from astroi2i.errors import InputError
from astroi2i.workflows.quickstart import quickstart


@pytest.mark.slow
def test_quickstart_runs_end_to_end_and_reports(tmp_path):
    """A short quickstart (the real one trains 600 batches): every artefact is written, and
    the model, which starts at the fitted baseline, still beats the identity in physical
    units."""
    result = quickstart(tmp_path / "qs", max_batches=60, progress_bar=False)
    report = result.report
    for name in ("metrics.ecsv", "summary.ecsv", "report.md", "panels.png"):
        assert (report / name).is_file(), name
    assert len(list((tmp_path / "qs" / "predictions").glob("*.fits"))) == 6
    table = Table.read(report / "metrics.ecsv")
    assert set(table["method"]) == {"pix2pix", "baseline", "identity"}
    physical = table[table["space"] == "physical"]
    assert np.isfinite(physical["noise_floor_psnr"]).all()
    # the fitted baseline is at least as good as the identity it contains (a = 1 on r, σ = 0)
    assert result.baseline_gain_db == pytest.approx(
        float(np.mean(physical["psnr"][physical["method"] == "pix2pix"]))
        - float(np.mean(physical["psnr"][physical["method"] == "baseline"])),
        abs=1e-6,
    )
    base = np.mean(physical["psnr"][physical["method"] == "baseline"])
    assert base > np.mean(physical["psnr"][physical["method"] == "identity"])
    assert all(np.isfinite(table["psnr"]))
    stretched = [s for s in set(table["space"]) if s.startswith("stretched")]
    assert len(stretched) == 1

    def mean(method, space):
        sel = (table["method"] == method) & (table["space"] == space)
        return float(np.mean(table["psnr"][sel]))

    assert mean("pix2pix", "physical") > mean("identity", "physical")
    text = (report / "report.md").read_text()
    assert "the fitted classical baseline" in text and "noise floor" in text
    assert "PSNR gain over the identity baseline" in text
    # the σ sentence gives the ranking next to what an exact σ of the same spread would reach
    sel = (table["method"] == "pix2pix") & (table["space"] == "physical")
    rank, ideal = (float(np.nanmean(np.asarray(table[c][sel], float)))
                   for c in ("spearman_sigma", "spearman_sigma_ideal"))  # fmt: skip
    assert 0 < ideal <= 1
    assert (f"correlation of |residual| with σ {rank:.2f} (an exact σ map of the same spread "
            f"would reach {ideal:.2f})") in text  # fmt: skip
    # and the 95 % interval scores of σ and of the constant σ, from the same table
    score, const = (float(np.nanmean(np.asarray(table[c][sel], float)))
                    for c in ("interval_score_95", "interval_score_95_const"))  # fmt: skip
    assert f"σ {score:.4g}, the constant σ {const:.4g} nmgy" in text
    with pytest.raises(InputError, match="exists and is not empty"):
        quickstart(tmp_path / "qs", max_batches=1)
