"""Model translation of one 256² STIX back projection against xrayvision CLEAN of the same
visibilities, on this machine.

    python benchmarks/stix_speed.py [--model stix-bp2clean] [--repeat 20]

Timed (wall clock, the median of the repeats unless said):
- ``vis_clean``: xrayvision's ``vis_clean`` as a user calls it (dirty map, dirty beam, Högbom
  loop, restoring convolution), on a 257² map at 1″/px, 200 iterations, 20″ beam — once, it is
  slow: its restoring step is a direct ``convolve2d`` with a 769² beam;
- ``clean (FFT restore)``: the same CLEAN with the restoring convolution done by FFT, as
  astroi2i's simulator does, dirty beam included (the fastest honest CLEAN here);
- ``model forward``: the network on one stretched 256² BP, model loaded and warm;
- ``translate``: the whole ``translate`` call (load the model, read the FITS BP, stretch,
  network, inverse stretch, write FITS), once per repeat, cold model load included.
Prints each time and the speed-up of the model over both CLEANs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="stix-bp2clean")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--skip-vis-clean", action="store_true", help="skip the ~30 s vis_clean")
    args = parser.parse_args()

    import astropy.units as u
    import torch

    from astroi2i.data.stretches import build_stretch
    from astroi2i.io import write_image
    from astroi2i.sources import stix
    from astroi2i.workflows.model import load_model
    from astroi2i.workflows.simulate_stix import stix_header, stix_maps
    from astroi2i.workflows.translate import translate

    vis = stix.real_stix_visibilities()
    imaging = stix.StixImaging()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {imaging.describe()}")

    if not args.skip_vis_clean:
        from xrayvision.clean import vis_clean

        obj = stix._vis_object(vis)
        t0 = time.perf_counter()
        with stix._quiet():
            vis_clean(
                obj,
                shape=[257, 257] * u.pix,
                pixel_size=[1.0, 1.0] * u.arcsec / u.pix,
                clean_beam_width=20 * u.arcsec,
                niter=200,
                gain=0.1,
                map=False,
            )
        t_vis_clean = time.perf_counter() - t0
        print(f"xrayvision vis_clean (once):            {t_vis_clean:9.3f} s")
    t_clean = _median_time(lambda: stix.clean_map(vis, imaging), max(3, args.repeat // 4))
    print(f"CLEAN to 2σ, FFT restore, beam incl.:   {t_clean:9.3f} s")

    model, meta = load_model(args.model)
    header = stix_header(vis, vis.exposure, vis.time_range[0])
    maps = stix_maps(vis, imaging, exposure=vis.exposure, header=header)
    bp = maps["bp"]
    x = build_stretch(meta.stretches["inputs"]).forward(bp.data, exposure=np.array([vis.exposure]))
    xt = torch.from_numpy(x[None].astype(np.float32))
    with torch.inference_mode():
        model(xt)
        t_model = _median_time(lambda: model(xt), args.repeat)
    print(f"model forward, one 256² BP:             {t_model:9.4f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = write_image(bp, Path(tmp) / "bp.fits")
        out = Path(tmp) / "pred.fits"
        t_translate = _median_time(
            lambda: translate(args.model, [path], out, overwrite=True), max(3, args.repeat // 4)
        )
    print(f"translate, FITS in → FITS out:          {t_translate:9.4f} s")
    print("speed-up of the model over CLEAN:")
    if not args.skip_vis_clean:
        print(
            f"  vs vis_clean:        forward {t_vis_clean / t_model:8.0f}×, "
            f"translate {t_vis_clean / t_translate:6.0f}×"
        )
    print(
        f"  vs FFT-restore CLEAN: forward {t_clean / t_model:8.0f}×, "
        f"translate {t_clean / t_translate:6.0f}×"
    )


if __name__ == "__main__":
    main()
