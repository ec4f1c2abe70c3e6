"""The presets (default, paper, paper_open), SAE restarts and step counts, seed stability, CLI parity, progress."""

from __future__ import annotations

import re
from dataclasses import fields

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.codec import PRESETS, CodecConfig, decompose, fit_modes, make_sae
from retinacodec.codec.decompose import seed_sweep
from retinacodec.codec.presets import DEFAULT_PRESET, OFFICIAL_SAE_STEPS
from retinacodec.codec.sae import CodecSAE, TopKSAE
from retinacodec.codec.stability import mode_stability

torch.set_num_threads(1)

FAST = {"progress": False, "max_epochs": 5, "n_fit_frames": 300}


def test_paper_open_is_the_paper_run_with_open_codes_and_the_official_step_count():
    paper, opened = PRESETS["paper"], PRESETS["paper_open"]
    assert opened.sae_options == {"open_fraction": 0.05, "n_steps": 46 * 800} and OFFICIAL_SAE_STEPS == 36800
    assert {f.name: getattr(opened, f.name) for f in fields(CodecConfig) if f.name != "sae_options"} == \
        {f.name: getattr(paper, f.name) for f in fields(CodecConfig) if f.name != "sae_options"}
    assert paper.sae_options == {}


def test_n_steps_sets_the_epochs_and_stretches_the_schedule():
    sae = CodecSAE(n_steps=36800)
    # 961 frames, batches of 128 without the last: 7 steps an epoch, as on the shipped sample
    epochs, step_lr = sae._schedule(961)
    assert epochs == 5258 and epochs * 7 >= 36800 > (epochs - 1) * 7
    assert step_lr == (round(25 * 5258 / 800), 0.98)  # the learning rate decays as often as in 800 epochs
    assert CodecSAE()._schedule(961) == (800, (25, 0.98))  # the official recipe is untouched
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        CodecSAE(n_steps=0).fit(np.random.default_rng(0).normal(size=(50, 4)))


def test_n_init_keeps_the_restart_that_reconstructs_held_out_samples_best():
    X = np.abs(np.random.default_rng(1).normal(size=(600, 8))).astype(np.float32)
    common = {"k": 2, "expansion": 1.0, "max_epochs": 5, "progress": False}
    single = TopKSAE(seed=0, **common).fit(X)
    best = TopKSAE(seed=0, n_init=4, **common).fit(X)
    np.testing.assert_array_equal(best.validation_indices_, single.validation_indices_)  # one split for all restarts
    assert single.init_ == 0 and best.init_ > 0  # on these samples a later restart reconstructs better ...
    assert best.metrics_["r2"] > single.metrics_["r2"] + 1e-3  # ... and is the one kept
    with pytest.raises(ValueError, match="n_init must be a positive integer"):
        TopKSAE(n_init=0, **common).fit(X)


def test_paper_open_learns_modes_where_the_official_recipe_keeps_none(tiny):
    """The official init opens almost no code; 5 % open codes and enough steps keep modes on the same samples."""
    model, rec = tiny
    with pytest.warns(UserWarning, match="kept no mode") as caught:
        paper = decompose(model, rec, ["layer1"], preset="paper", progress=False, max_epochs=20)
    assert int(paper["n_modes"][0]) == 0
    flag = re.search(r"\((--[a-z-]+) [0-9.]+\)", str(caught[0].message)).group(1)  # the warning names a real flag
    assert flag == "--open-fraction" and flag in _decompose_flags()
    opened = decompose(model, rec, ["layer1"], preset="paper_open", progress=False, n_steps=2000)
    assert int(opened["n_modes"][0]) > 0 and opened.attrs["config_sae_open_fraction"] == 0.05


def _decompose_flags() -> set[str]:
    from retinacodec.cli import build_parser

    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    return {flag for action in sub.choices["decompose"]._actions for flag in action.option_strings}


def test_every_decompose_option_has_a_flag():
    """Every CodecConfig field and the SAE options the presets set can be given on the command line."""
    flags = _decompose_flags()
    names = {f.name for f in fields(CodecConfig) if f.name != "sae_options"}
    names |= {key for config in PRESETS.values() for key in config.sae_options}
    names |= {"frames", "fit_frames", "seed", "preset", "layers", "max_epochs", "lr", "threshold"}
    missing = [n for n in sorted(names) if "--" + n.replace("_", "-") not in flags]
    assert not missing, missing


def test_default_preset_has_per_cell_and_population_loadings(tiny):
    model, rec = tiny
    assert DEFAULT_PRESET == "codec"
    ds = decompose(model, rec, ["layer1", "layer2"], **FAST)
    assert ds.attrs["preset"] == "codec" and ds.attrs["method"] == "integrated_gradients"
    assert ds["loadings"].dims == ("frame", "cell", "mode")
    xr.testing.assert_allclose(ds["population_loadings"], ds["loadings"].sum("cell"))
    assert (ds["completeness_median"] <= 1e-4).all()


def test_progress_log_prints_one_line_per_stage(tiny, capsys):
    model, rec = tiny
    decompose(model, rec, ["layer1"], **{**FAST, "progress": "log"})
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["decompose"] * len(lines) and len(lines) == 3
    assert "analysed frames" in lines[0] and "learn from" in lines[1] and "SAE per layer" in lines[2]


def test_seed_sweep_and_mode_stability(tiny):
    model, rec = tiny
    runs = seed_sweep(model, rec, [0, 1], ["layer1"], **FAST)
    assert [r.attrs["seed"] for r in runs] == [0, 1]
    xr.testing.assert_equal(runs[0]["contributions"], runs[1]["contributions"])  # contributions computed once
    same = mode_stability([runs[0], runs[0]])
    assert float(same["reproduced"].sel(run=1, sae="layer1")) == 1.0
    np.testing.assert_allclose(same["cosine"].values, 1.0, atol=1e-6)
    # the matching is one to one: a run whose atoms are the reference's in another order still reproduces all
    shuffled = runs[0].isel(mode=np.random.default_rng(0).permutation(runs[0].sizes["mode"]))
    match = mode_stability([runs[0], shuffled])
    assert float(match["reproduced"].sel(run=1, sae="layer1")) == 1.0
    assert (shuffled["mode"].values[np.argsort(shuffled["mode"].values)] ==
            match["partner"].sel(run=1).values).all()
    # a run with the atoms' signs flipped reproduces none of them
    flipped = runs[0].assign(modes=-runs[0]["modes"])
    assert float(mode_stability([runs[0], flipped])["reproduced"].sel(run=1, sae="layer1")) == 0.0
    with pytest.raises(ValueError, match="at least two runs"):
        mode_stability(runs[:1])


def test_make_sae_passes_restarts(make_features):
    f = make_features()
    ds = fit_modes(f, f, ["layer1"], sae="topk", k=2, max_epochs=2, n_init=2, progress=False)
    assert ds.attrs["sae_n_init"] == 2
    assert make_sae("batchtopk", k=2, n_init=3).n_init == 3


def test_mode_stability_figure_has_one_row_per_sae_aligned_bars_and_a_colour_bar():
    import matplotlib

    matplotlib.use("Agg")
    from retinacodec.figures import plot_mode_stability

    rng = np.random.default_rng(0)
    cos = rng.random((3, 10))
    cos[0] = 1
    stab = xr.Dataset({"cosine": (("run", "mode"), cos),
                       "reproduced": (("run", "sae"), np.c_[(cos[:, :4] >= 0.9).mean(1), (cos[:, 4:] >= 0.9).mean(1)])},
                      coords={"run": np.arange(3), "mode": np.arange(10),
                              "mode_layer": ("mode", ["layer1"] * 4 + ["layer2"] * 6), "sae": ["layer1", "layer2"],
                              "seed": ("run", [0, 5, 7])}, attrs={"threshold": 0.9, "reference": 0})
    fig = plot_mode_stability(stab)
    heat, bars = fig.axes[0], fig.axes[1]
    assert [t.get_text() for t in heat.get_yticklabels()] == ["seed 0 (ref.)", "seed 5", "seed 7"]
    assert heat.get_ylim() == pytest.approx(bars.get_ylim())  # each run's bar beside its heat-map row
    assert fig.axes[-1].get_ylabel() == "cosine similarity"  # the colour bar
    assert heat.images[0].get_array().shape == (3, 4) and fig.axes[2].images[0].get_array().shape == (3, 6)
