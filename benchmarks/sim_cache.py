"""The 50×50 benchmark recordings of issue 23, simulated once and cached as NetCDF (a 30-min recording is 1.8 GB).

Shared by ``bench_fit_large.py`` and ``bench_fit_vs_openretina.py`` so that both time fits of the
same data: ``simulate_retina(size=(50, 50), train_seconds=T, test_seconds=10, n_repeats=5, seed=S,
stimulus=...)``.
"""

from __future__ import annotations

import time
from pathlib import Path


def cached_sim50(stimulus: str, train_seconds: float, seed: int, cache: Path):  # noqa: ANN201
    """(Recording, truth) of the 50×50 simulation, read from ``cache`` or simulated and written there."""
    import xarray as xr

    import retinacodec as rc
    from retinacodec.sim.simulate import load_truth, save_truth

    stem = cache / f"sim50_{stimulus}_{int(train_seconds)}s_seed{seed}"
    rec_path, truth_path = stem.with_suffix(".nc"), stem.parent / f"{stem.name}_truth.nc"
    if not rec_path.exists():
        start = time.perf_counter()
        rec, truth = rc.simulate_retina(size=(50, 50), train_seconds=train_seconds, test_seconds=10.0, n_repeats=5,
                                        seed=seed, stimulus=stimulus)
        cache.mkdir(parents=True, exist_ok=True)
        save_truth(truth, truth_path)
        tmp = rec_path.with_suffix(".tmp")
        rec.to_netcdf(tmp)
        tmp.rename(rec_path)
        print(f"simulated and cached {rec_path} in {time.perf_counter() - start:.0f} s", flush=True)
    rec = xr.load_dataset(rec_path)
    return rec, load_truth(truth_path, rec)
