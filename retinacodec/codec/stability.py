"""Are the modes reproducible? Atoms of runs with other SAE seeds matched by cosine similarity.

The CODEC paper's hyper-parameter sweep (official code
``figures/supp_hyperparam_sweep/scripts/single_mode_vector_comparision.py``) normalises each
atom to unit length and compares a baseline run's atoms with those of runs that differ in one
setting, the SAE's seed among them. :func:`mode_stability` does that for any set of
:func:`~retinacodec.codec.decompose.decompose` results: within each SAE (layer), the atoms of
every run are paired one to one with the reference run's atoms so that the summed cosine
similarity is largest (the Hungarian algorithm), and a reference mode counts as reproduced
by a run when its partner's cosine similarity reaches ``threshold``.
:func:`~retinacodec.codec.decompose.seed_sweep` produces such runs, computing the
contributions once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

__all__ = ["REPRODUCED_COSINE", "mode_stability"]

#: Cosine similarity from which a matched atom counts as the same mode.
REPRODUCED_COSINE = 0.9


def _unit(atoms: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(atoms, axis=1, keepdims=True)
    return np.divide(atoms, norm, out=np.zeros_like(atoms), where=norm > 0)


def mode_stability(runs: Sequence[xr.Dataset], *, reference: int = 0,
                   threshold: float = REPRODUCED_COSINE) -> xr.Dataset:
    """How well each run reproduces the modes of a reference run.

    Parameters
    ----------
    runs : sequence of xarray.Dataset
        :func:`~retinacodec.codec.decompose.decompose` results on the same features (same
        layers), e.g. with different ``seed``; at least two.
    reference : int
        Index of the run whose modes are looked for in the others.
    threshold : float
        Cosine similarity in (0, 1] from which a matched atom counts as reproduced.

    Returns
    -------
    xarray.Dataset
        Over the reference run's modes (dim ``mode``, with its ``mode_layer``) and the runs
        (dim ``run``, the reference included):

        - ``cosine (run, mode)``: cosine similarity of the mode's atom with the atom of that
          run it is paired with (one to one within the same SAE; 0 when the run has fewer
          atoms and this mode got none; 1 for the reference itself);
        - ``partner (run, mode)``: the paired mode's index in that run (-1 for none);
        - ``reproduced (run, sae)``: share of the reference's modes of each SAE whose cosine
          reaches ``threshold``;
        - ``reproduced_mean (sae)``: that share averaged over the other runs;
        - ``n_modes (run, sae)``: modes each run kept.

        Attrs: ``threshold``, ``reference``, and ``seeds`` (each run's ``seed`` attr).

    Raises
    ------
    ValueError
        On fewer than two runs, runs with different SAEs or features, or a bad threshold.

    Examples
    --------
    A run compared with itself, its atoms in another order, reproduces every mode:

    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:100]
    >>> run = rc.decompose(model, rec, ["layer1"], frames=frames, fit_frames=frames, max_epochs=20, n_init=1,
    ...                    progress=False)
    >>> shuffled = run.isel(mode=np.argsort(-run["mode"].values))
    >>> float(rc.codec.mode_stability([run, shuffled])["reproduced_mean"].sel(sae="layer1"))
    1.0
    """
    if len(runs) < 2:
        raise ValueError(f"mode_stability needs at least two runs to compare; got {len(runs)}.")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}.")
    if not -len(runs) <= reference < len(runs):
        raise ValueError(f"reference must index one of the {len(runs)} runs; got {reference}.")
    ref = runs[reference]
    saes = [str(s) for s in ref["sae"].values]
    for i, run in enumerate(runs):
        if [str(s) for s in run["sae"].values] != saes or run.sizes["feature"] != ref.sizes["feature"]:
            raise ValueError(f"run {i} has SAEs {run['sae'].values.tolist()} on {run.sizes['feature']} features; "
                             f"the reference has {saes} on {ref.sizes['feature']}: compare runs of the same layers.")
    n_ref = ref.sizes["mode"]
    cosine = np.zeros((len(runs), n_ref))
    partner = np.full((len(runs), n_ref), -1)
    reproduced = np.zeros((len(runs), len(saes)))
    for r, run in enumerate(runs):
        for s, sae in enumerate(saes):
            mine = np.flatnonzero(ref["mode_layer"].values == sae)
            theirs = np.flatnonzero(run["mode_layer"].values == sae)
            if mine.size == 0:
                reproduced[r, s] = np.nan
                continue
            if theirs.size:
                sim = _unit(ref["modes"].values[mine]) @ _unit(run["modes"].values[theirs]).T
                rows, cols = linear_sum_assignment(-sim)
                cosine[r, mine[rows]] = sim[rows, cols]
                partner[r, mine[rows]] = run["mode"].values[theirs[cols]]
            reproduced[r, s] = np.mean(cosine[r, mine] >= threshold - 1e-6)
    others = [r for r in range(len(runs)) if r != reference % len(runs)]
    run_coord = np.arange(len(runs))
    return xr.Dataset(
        {
            "cosine": (("run", "mode"), cosine),
            "partner": (("run", "mode"), partner),
            "reproduced": (("run", "sae"), reproduced),
            "reproduced_mean": ("sae", np.nanmean(reproduced[others], axis=0)),
            "n_modes": (("run", "sae"), np.array([[int((run["mode_layer"].values == sae).sum()) for sae in saes]
                                                  for run in runs])),
        },
        coords={"run": run_coord, "mode": ref["mode"].values, "mode_layer": ("mode", ref["mode_layer"].values),
                "sae": saes, "seed": ("run", [int(run.attrs.get("seed", -1)) for run in runs])},
        attrs={"threshold": float(threshold), "reference": int(reference % len(runs)),
               "description": "reference run's modes matched one to one (Hungarian, cosine similarity of unit atoms) "
                              "with each run's modes of the same SAE"},
    )
