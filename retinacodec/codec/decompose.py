"""CODEC step 2: contributions (or activations) → sparse autoencoder → modes and loadings.

:func:`decompose` runs the whole pipeline on a fitted model and a recording (METHODS.md §3).
With no options it is the paper's retina run (:mod:`retinacodec.codec.presets`, preset
``"paper"``):

1. **Samples.** For every analysed frame (default: the whole test stimulus, i.e. the frames
   of test repeat 0 with a full history), each hooked layer's integrated-gradient
   contributions (20 steps) to the surprisal of the population rate vector are split by sign
   and summed over space: 2C values per layer (:mod:`retinacodec.codec.features`). μ and Σ of
   the surprisal come from the model's rates on the training frames.
2. **Modes.** One sparse autoencoder per layer group (``"layer1"``, or ``"layer1+layer2"``
   for one SAE on the concatenated features) — CODEC's thresholded-sigmoid SAE with the
   official hyper-parameters, 10× expansion — trained on the analysed frames' samples. The
   dictionary atoms are the modes; the codes are the loadings, one time course per mode.
3. **Output.** One :class:`xarray.Dataset`, NetCDF-friendly (see :func:`fit_modes`), with
   the completeness error of the contributions per layer.

Every departure is an option (``target="cell"`` for per-cell loadings, ``output="generator"``,
``method="activation_x_gradient"``, ``sae="topk"``, ``fit_on="train"`` ...) or a named
preset (``preset="cells"``, ``preset="local"``).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from retinacodec.atomic import save_netcdf
from retinacodec.attribution import Surprisal
from retinacodec.attribution.hooks import resolve_layers
from retinacodec.codec.features import activation_features, attribution_model, contribution_features
from retinacodec.codec.presets import DEFAULT_PRESET, CodecConfig, resolve_config
from retinacodec.codec.sae import CodecSAE, ReLUSAE, TopKSAE
from retinacodec.codec.sae.base import BaseSAE
from retinacodec.model.bncnn import BNCNN
from retinacodec.model.frames import default_frames
from retinacodec.model.training import predict_targets
from retinacodec.model.windows import WindowedData
from retinacodec.recording import validate_recording

__all__ = ["COMPLETENESS_WARNING", "SAE_KINDS", "decompose", "fit_modes", "make_sae", "reconstruct", "save_modes",
           "seed_sweep"]

SAE_KINDS = ("codec", "topk", "batchtopk", "relu")
#: A median relative completeness error above this draws a warning.
COMPLETENESS_WARNING = 1e-2


def make_sae(kind: str = "codec", *, k: int = 3, expansion: float | None = None, seed: int = 0,
             device: str | None = "cpu", progress: bool | None = None, **params) -> BaseSAE:
    """A sparse autoencoder of one kind, for samples ordered in time.

    Parameters
    ----------
    kind : {"codec", "topk", "batchtopk", "relu"}
        CODEC's :class:`~retinacodec.codec.sae.CodecSAE` (official defaults: every sample
        trains), :class:`~retinacodec.codec.sae.TopKSAE` (BatchTopK with ``"batchtopk"``) or
        :class:`~retinacodec.codec.sae.ReLUSAE`; the last three hold out contiguous chunks
        (``split="contiguous"``), since samples are time-ordered.
    k : int
        Active latents per sample (TopK, BatchTopK only).
    expansion : float, optional
        Dictionary size / input dimension; None for the estimator's own default.
    seed : int
        Seeds initialisation, batching and the held-out split.
    device : str, optional
        Where to train.
    progress : bool, optional
        Progress bar; default only on a terminal.
    **params
        Other estimator parameters (``l1``, ``threshold``, ``max_epochs`` ...).

    Returns
    -------
    BaseSAE
        Unfitted.
    """
    common = {"expansion": expansion, "seed": seed, "device": device, "progress": progress, **params}
    kinds = {"topk": TopKSAE, "batchtopk": TopKSAE, "relu": ReLUSAE, "codec": CodecSAE}
    if kind not in kinds:
        raise ValueError(f"unknown SAE kind {kind!r}; choose one of {SAE_KINDS}.")
    if kind != "codec":
        common.setdefault("split", "contiguous")
    if kind in ("topk", "batchtopk"):
        common.update(k=k, batch_topk=kind == "batchtopk")
    try:
        return kinds[kind](**common)
    except TypeError as exc:
        raise ValueError(f"{exc} — see help({kinds[kind].__name__}) for the parameters of the {kind!r} SAE.") from None


def _groups(layers: Sequence[str]) -> list[list[str]]:
    """``["layer1", "layer1+layer2"]`` → ``[["layer1"], ["layer1", "layer2"]]``."""
    groups = [[part for part in str(g).split("+") if part] for g in layers]
    if not groups or any(not g for g in groups):
        raise ValueError(f"layers must be non-empty names or '+'-joined groups of names; got {list(layers)}.")
    return groups


def _check_features(features: xr.DataArray, groups: list[list[str]]) -> None:
    """Raise on NaN or infinite values, on layers missing from the features, or on a layer that is all zero."""
    values = features.values
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.argwhere(bad)[0]
        first = {d: features[d].values[i].item() for d, i in zip(features.dims, where, strict=True)
                 if d in features.coords}
        raise ValueError(
            f"the {features.name} hold {int(bad.sum())} NaN or infinite values (first at {first}); the model's "
            "output or its gradient is not finite there: check the model and the stimulus for NaNs."
        )
    present = set(features["layer"].values.tolist())
    for group in groups:
        missing = [name for name in group if name not in present]
        if missing:
            raise ValueError(f"layer(s) {missing} have no {features.name}; the features hold {sorted(present)}.")
        for name in group:
            if not np.any(values[..., features["layer"].values == name]):
                raise ValueError(
                    f"layer {name!r} has no {features.name}: every value is zero on these frames (a silent layer, "
                    "or one the output does not depend on); leave it out of `layers`."
                )


def fit_modes(fit_features: xr.DataArray, features: xr.DataArray, layers: Sequence[str], *, sae: str = "codec",
              k: int = 3, expansion: float | None = None, seed: int = 0, device: str | None = "cpu",
              progress: bool | None = None, **sae_params) -> xr.Dataset:
    """Fit one SAE per layer group and label its modes and loadings.

    Parameters
    ----------
    fit_features : xarray.DataArray, shape (frame, [cell,] feature)
        Samples to train on (every leading index is one sample), with the ``feature`` coords
        ``layer``, ``sign``, ``channel`` of :func:`~retinacodec.codec.features.contribution_features`.
    features : xarray.DataArray, same feature dim
        Samples to compute loadings for (e.g. the test frames).
    layers : sequence of str
        One SAE per entry; ``"layer1+layer2"`` fits one SAE on both layers' features.
    sae, k, expansion, seed, device, progress, **sae_params
        The SAE (:func:`make_sae`); ``expansion=None`` is each SAE's own default.

    Returns
    -------
    xarray.Dataset
        - ``modes (mode, feature)``: the atoms, in the features' units; zero outside the
          mode's own layers;
        - ``offset (sae, feature)``: what each SAE adds to every reconstruction (TopK's and
          ReLU's learned pre-encoder bias; zero for CODEC's SAE), zero outside its layers, so
          that :func:`reconstruct` gives back the features from the saved file alone;
        - ``loadings (frame, [cell,] mode)``: the codes of ``features``;
        - the features themselves, named as ``features`` is (``contributions`` or
          ``activations``);
        - per SAE (dim ``sae``, the group names): ``r2`` (about each feature's mean) and
          ``r2_grand`` (about the grand mean, as bscope and the paper), ``l0``,
          ``dead_fraction``, ``dense_fraction`` — on held-out training samples, or on the
          training samples when the SAE holds none out (``metrics_on``) — and ``n_modes`` kept;
        - coords ``mode_layer (mode)`` (the group of each mode), ``layer``, ``sign``,
          ``channel`` on ``feature``, ``frame``, ``time``, ``cell``.

    Raises
    ------
    ValueError
        On NaN features, a layer with no (or all-zero) features, an SAE asked for more
        active latents than atoms, or too few samples for the held-out split.
    """
    groups = _groups(layers)
    for name, f in (("fit_features", fit_features), ("features", features)):
        if f.dims[-1] != "feature" or "layer" not in f.coords:
            raise ValueError(f"{name} must have a last dim 'feature' with a 'layer' coord; got dims {f.dims}.")
        _check_features(f, groups)
    n_features = features.sizes["feature"]
    atoms, offsets, codes, mode_layer, metrics = [], [], [], [], []
    for group in tqdm(groups, desc="sae per layer", unit="layer", disable=(not progress) if progress is not None
                      else None):
        cols = np.flatnonzero(np.isin(features["layer"].values, group))
        estimator = make_sae(sae, k=k, expansion=expansion, seed=seed, device=device, progress=progress,
                             **sae_params)
        estimator.fit(fit_features.values[..., cols].reshape(-1, cols.size))
        if estimator.modes_.shape[0] == 0:
            hint = ("no code ever passed the threshold, and a closed code's gate has no gradient: "
                    "open_fraction=0.05 (--open-fraction 0.05) starts some codes open, preset 'paper_open' "
                    "(--preset paper_open) adds the official number of optimiser steps, and the default preset "
                    "'codec' learns on any recording" if sae == "codec"
                    else "try more epochs (max_epochs=, --max-epochs) or more samples (n_fit_frames=, --n-fit-frames)")
            warnings.warn(f"the {sae!r} SAE of {'+'.join(group)} kept no mode on {estimator.train_indices_.size} "
                          f"samples: {hint}.", stacklevel=2)
        codes.append(estimator.transform(features.values[..., cols].reshape(-1, cols.size)))
        full = np.zeros((estimator.modes_.shape[0], n_features), dtype=np.float32)
        full[:, cols] = estimator.modes_
        atoms.append(full)
        offset = np.zeros(n_features, dtype=np.float32)
        offset[cols] = estimator.bias_
        offsets.append(offset)
        mode_layer += ["+".join(group)] * full.shape[0]
        metrics.append({**estimator.metrics_, "n_modes": full.shape[0], "n_latents": estimator.n_latents_})
    lead = features.dims[:-1]
    name = features.name or "features"
    loadings = np.concatenate(codes, axis=1).reshape(*(features.sizes[d] for d in lead), -1)
    names = ["+".join(g) for g in groups]
    ds = xr.Dataset(
        {
            "modes": (("mode", "feature"), np.concatenate(atoms)),
            "offset": (("sae", "feature"), np.stack(offsets)),
            "loadings": ((*lead, "mode"), loadings),
            name: features,
            **{m: ("sae", [float(x[m]) for x in metrics])
               for m in ("r2", "r2_grand", "l0", "dead_fraction", "dense_fraction")},
            "n_modes": ("sae", [int(x["n_modes"]) for x in metrics]),
            "n_latents": ("sae", [int(x["n_latents"]) for x in metrics]),
        },
        coords={"mode": np.arange(len(mode_layer)), "mode_layer": ("mode", np.asarray(mode_layer)),
                "sae": np.asarray(names)},
        attrs={"source": name, "layers": names, "sae_kind": sae, "k": int(k),
               "expansion": float(expansion) if expansion is not None else "default", "seed": int(seed),
               "metrics_on": "held-out training samples" if metrics[0]["held_out"] else "the training samples",
               "n_fit_samples": int(np.prod(fit_features.shape[:-1])), "n_fit_frames": int(fit_features.shape[0]),
               **{f"sae_{key}": value for key, value in sae_params.items() if isinstance(value, int | float | str)}},
    )
    ds["modes"].attrs["description"] = "SAE dictionary atoms (modes), in the units of the features"
    ds["offset"].attrs["description"] = "added to every reconstruction of each SAE (features' units)"
    ds["loadings"].attrs["description"] = "SAE codes (mode loadings) of the analysed frames"
    ds["r2"].attrs["description"] = "reconstruction R^2, total sum of squares about each feature's mean"
    ds["r2_grand"].attrs["description"] = "reconstruction R^2 about the grand mean of all entries (bscope r2_score)"
    return ds


def reconstruct(ds: xr.Dataset) -> xr.DataArray:
    """The features a :func:`fit_modes` / :func:`decompose` result reconstructs from its loadings.

    Parameters
    ----------
    ds : xarray.Dataset
        With ``modes``, ``offset`` and ``loadings`` (e.g. read back from NetCDF).

    Returns
    -------
    xarray.DataArray, shape (frame, [cell,] sae, feature)
        For each SAE, ``loadings[its modes] @ modes[its modes] + offset``; zero outside its
        layers.
    """
    parts = []
    for sae in ds["sae"].values:
        mine = ds["mode_layer"] == sae
        load = ds["loadings"].where(mine, 0.0)
        parts.append(xr.dot(load, ds["modes"], dim="mode") + ds["offset"].sel(sae=sae))
    return xr.concat(parts, dim=ds["sae"]).transpose(..., "sae", "feature").rename("reconstruction")


def _train_frames(data: WindowedData, n: int | None, seed: int) -> np.ndarray:
    """Training-block frames with a full history: all, or a seeded subset of ``n``."""
    train = data.targets("train")
    if n is None or train.size <= n:
        return train
    return np.sort(np.random.default_rng(seed).choice(train, size=n, replace=False))


def _surprisal(model: BNCNN, data: WindowedData, frames: np.ndarray, config: CodecConfig,
               device: str | None) -> Surprisal:
    """The surprisal target, μ and Σ from the model's output on ``frames``."""
    if frames.size < 2:
        raise ValueError("the surprisal needs the model's rates on at least 2 reference frames; the recording has "
                         "no training block with a full history: pass reference='analysed'.")
    outputs = predict_targets(attribution_model(model, config.output), data, frames, device=device or "cpu")
    try:
        return Surprisal(ridge=config.surprisal_ridge).fit(outputs)
    except np.linalg.LinAlgError:
        raise ValueError("the covariance of the cells' rates is singular (a silent cell, or two identical ones); "
                         "pass surprisal_ridge=1e-3 to regularise it.") from None


def _target(config: CodecConfig, surprisal: Surprisal | None) -> object:
    return {"surprisal": surprisal, "cell": "all", "sum": "sum"}[config.target]


def _completeness(features: xr.DataArray, layers: list[str], method: str) -> dict:
    """Per-layer completeness variables, with a warning where the median error is large."""
    median, worst = features.attrs["completeness_median"], features.attrs["completeness_max"]
    bad = [f"{name} {m:.2g}" for name, m in zip(layers, median, strict=True) if not m <= COMPLETENESS_WARNING]
    if bad:
        warnings.warn(f"the {method} contributions miss F(x) - F(x0) by a median relative error of "
                      f"{', '.join(bad)} (> {COMPLETENESS_WARNING:g}): they do not add up to the output change; "
                      "method='integrated_gradients' with enough steps does.", stacklevel=3)
    return {"completeness_median": ("hooked_layer", np.asarray(median)),
            "completeness_max": ("hooked_layer", np.asarray(worst))}


def _bar(progress: bool | str | None) -> bool | None:
    """The ``progress`` of a tqdm bar: none when stages are logged as lines."""
    return False if progress == "log" else progress


def _stage(progress: bool | str | None, text: str, since: float | None = None) -> None:
    """One line on stderr per stage of :func:`decompose` when ``progress="log"`` (logs, pipes, the CLI)."""
    if progress == "log":
        took = f" ({time.perf_counter() - since:.0f} s)" if since is not None else ""
        print(f"decompose: {text}{took}", file=sys.stderr, flush=True)


@dataclass
class _Samples:
    """The SAEs' inputs: features of the analysed frames and of the frames the SAEs learn from."""

    features: xr.DataArray
    fit_features: xr.DataArray
    completeness: dict
    data: WindowedData


def _samples(model: BNCNN, recording: xr.Dataset, flat: list[str], config: CodecConfig, frames: np.ndarray | None,
             fit_frames: np.ndarray | None, seed: int, device: str | None,
             progress: bool | str | None) -> _Samples:
    """Contributions (or activations) of the analysed frames and of the SAEs' training frames."""
    data = WindowedData(recording, model.config.history, model.normalization)
    if frames is None:
        frames = default_frames(recording, model.config.history, getattr(model, "metadata", None))
    frames = np.asarray(frames, dtype=np.int64)
    if fit_frames is None:
        fit_frames = frames if config.fit_on == "analysed" else _train_frames(data, config.n_fit_frames, seed)
        if fit_frames.size == 0:
            raise ValueError("the recording has no training-block frames with a full history to fit the SAEs on; "
                             "pass fit_on='analysed' (--fit-on analysed) or fit_frames=.")
    fit_frames = np.asarray(fit_frames, dtype=np.int64)
    same = np.array_equal(fit_frames, frames)
    bar = _bar(progress)
    if config.source == "activations":
        t0 = time.perf_counter()
        x = activation_features(model, recording, flat, frames, device=device, progress=bar)
        fit_x = x if same else activation_features(model, recording, flat, fit_frames, device=device, progress=bar)
        _stage(progress, f"activations of {frames.size} analysed and {fit_frames.size} fitting frames", t0)
        return _Samples(x, fit_x, {}, data)
    surprisal = None
    if config.target == "surprisal":
        reference = _train_frames(data, config.n_reference_frames, seed) if config.reference == "train" else frames
        surprisal = _surprisal(model, data, reference, config, device)
    options = {"target": _target(config, surprisal), "output": config.output, "method": config.method,
               "steps": config.steps, "rule": config.rule, "device": device, "progress": bar}
    method = {"integrated_gradients": "integrated-gradient", "activation_x_gradient": "activation x gradient"}
    what = f"{method[config.method]} contributions of {', '.join(flat)} to {_describe_target(config)}"
    t0 = time.perf_counter()
    x = contribution_features(model, recording, flat, frames, **options)
    _stage(progress, f"{what} on {frames.size} analysed frames", t0)
    if same:
        fit_x = x
    else:
        t0 = time.perf_counter()
        fit_x = contribution_features(model, recording, flat, fit_frames, **options)
        _stage(progress, f"the same on {fit_frames.size} frames the SAEs learn from", t0)
    return _Samples(x, fit_x, _completeness(x, flat, config.method), data)


def _describe_target(config: CodecConfig) -> str:
    """What the contributions explain, in words (for progress lines)."""
    output = "rate" if config.output == "rate" else "generator signal"
    return {"surprisal": f"the surprisal of the population {output}", "cell": f"each cell's {output}",
            "sum": f"the summed {output}"}[config.target]


def _modes(model: BNCNN, recording: xr.Dataset, samples: _Samples, layers: Sequence[str], config: CodecConfig,
           sae_params: dict, preset: str, seed: int, device: str | None, progress: bool | str | None) -> xr.Dataset:
    """Fit the SAEs on prepared samples and label the result (the second half of :func:`decompose`)."""
    t0 = time.perf_counter()
    ds = fit_modes(samples.fit_features, samples.features, layers, sae=config.sae, k=config.k,
                   expansion=config.expansion, seed=seed, device=device, progress=_bar(progress), **sae_params)
    counts = ", ".join(f"{sae} {int(n)} modes (R2 {float(r):.3f})"
                       for sae, n, r in zip(ds["sae"].values, ds["n_modes"].values, ds["r2_grand"].values, strict=True))
    _stage(progress, f"{config.sae} SAE per layer: {counts}", t0)
    frames = samples.features["frame"].values
    rates = predict_targets(model, samples.data, frames, device=device or "cpu")
    ds["rate"] = xr.DataArray(rates * float(recording.attrs["frame_rate_hz"]), dims=("frame", "cell"),
                              coords={"cell": recording["cell"].values},
                              attrs={"units": "Hz", "description": "the model's predicted rate on the analysed frames"})
    if "cell" in ds["loadings"].dims:
        ds["population_loadings"] = ds["loadings"].sum("cell")
        ds["population_loadings"].attrs["description"] = (
            "loadings summed over cells: each mode's share of the summed contributions (one time course per mode)")
    if samples.completeness:
        flat = list(dict.fromkeys(name for g in _groups(layers) for name in g))
        ds = ds.assign(samples.completeness).assign_coords(hooked_layer=flat)
        ds["completeness_median"].attrs["description"] = (
            "median over the analysed samples of |sum of contributions - (F(x) - F(x0))| / |F(x) - F(x0)|")
        ds["completeness_max"].attrs["description"] = "the largest of those relative errors"
    x = samples.features
    ds.attrs.update({f"config_{key}": value for key, value in config.as_attrs().items()})
    ds.attrs.update(preset=preset, source=config.source, output=config.output, method=config.method,
                    steps=int(config.steps) if config.method == "integrated_gradients" else 0,
                    rule=config.rule if config.method == "integrated_gradients" else "none",
                    target=x.attrs.get("target", "none"), provenance=str(recording.attrs.get("session_id", "")))
    if config.source == "activations":
        ds.attrs["modules"] = x.attrs["modules"]
    return ds


def _setup(model: BNCNN, recording: xr.Dataset, layers: Sequence[str], preset: str,
           options: dict) -> tuple[CodecConfig, dict, list[str]]:
    config, sae_params = resolve_config(preset, options)
    validate_recording(recording)
    flat = list(dict.fromkeys(name for g in _groups(layers) for name in g))
    resolve_layers(model, flat)
    return config, sae_params, flat


def decompose(model: BNCNN, recording: xr.Dataset, layers: Sequence[str] = ("layer1", "layer2"), *,
              preset: str = DEFAULT_PRESET, frames: np.ndarray | None = None, fit_frames: np.ndarray | None = None,
              seed: int = 0, device: str | None = "cpu", progress: bool | str | None = None,
              **options) -> xr.Dataset:
    """Contribution modes of a fitted model on a recording (CODEC, METHODS.md §3).

    With no options this is preset ``"codec"``: integrated-gradient contributions to each
    cell's generator signal, which add up, decomposed by a BatchTopK SAE into modes whose
    per-cell loadings separate each cell's pathways (why it is the default, with the table
    that chose it: :mod:`retinacodec.codec.presets`). ``preset="paper"`` is the published
    retina run parameter for parameter; it keeps no mode on small recordings, and
    ``preset="paper_open"`` is that run with only the changes that let it learn there.

    Parameters
    ----------
    model : BNCNN
        A fitted model (``fit`` or ``load_model``).
    recording : xarray.Dataset
        A Recording with the model's frame size.
    layers : sequence of str
        One SAE per entry; ``"layer1+layer2"`` concatenates layers into one SAE.
    preset : {"codec", "paper", "paper_open", "cells", "local"}
        Starting settings (:data:`~retinacodec.codec.presets.PRESETS`).
    frames : ndarray of int, optional
        Frames to compute loadings for; default test repeat 0 (with a full history), i.e. the
        whole test stimulus.
    fit_frames : ndarray of int, optional
        Frames whose samples train the SAEs, overriding ``fit_on``.
    seed : int
        Seeds the SAEs and the training-frame subset.
    device : str, optional
        Where to compute.
    progress : bool or "log", optional
        Progress bars (default only on a terminal); ``"log"`` prints one line per stage on
        stderr instead (what the command line does when its output is not a terminal).
    **options
        Any field of :class:`~retinacodec.codec.presets.CodecConfig` — ``source``,
        ``target`` (``"surprisal"``, ``"cell"``, ``"sum"``), ``output`` (``"rate"``,
        ``"generator"``), ``method`` (``"integrated_gradients"``,
        ``"activation_x_gradient"``), ``steps``, ``rule``, ``sae`` (``"codec"``, ``"topk"``,
        ``"batchtopk"``, ``"relu"``), ``k``, ``expansion`` (None: the SAE's default),
        ``fit_on`` (``"analysed"``, ``"train"``), ``n_fit_frames``, ``reference``,
        ``n_reference_frames``, ``surprisal_ridge`` — overriding the preset; any other keyword
        is an SAE parameter (``n_init``, ``max_epochs``, ``lr``, ``threshold``,
        ``open_fraction``, ``n_steps`` ...), also overriding the preset's.

    Returns
    -------
    xarray.Dataset
        As :func:`fit_modes` — ``loadings (frame, mode)`` for a scalar target (surprisal,
        sum) or activations, ``(frame, cell, mode)`` for ``target="cell"``, then also
        ``population_loadings (frame, mode)``, the loadings summed over cells — plus, for
        contributions, ``completeness_median`` and ``completeness_max`` ``(hooked_layer)``:
        the relative completeness error of the analysed frames' contributions per layer, and
        ``rate (frame, cell)``: the model's predicted rate (Hz) on the analysed frames, so
        that figures can be drawn from the saved file alone.
        Attrs record the preset and every setting.

    Warns
    -----
    UserWarning
        When a layer's median relative completeness error exceeds 1e-2 (e.g. activation ×
        gradient, which does not add up to F(x) − F(x₀)), and when an SAE keeps no mode
        (naming the option, and its command-line flag, that makes it learn).

    Examples
    --------
    Per-cell modes of the sample model's layer 1 on 100 test frames, with a short SAE fit on the
    same frames (a real run analyses every test frame and learns from 4000 training frames):

    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:100]
    >>> modes = rc.decompose(model, rec, ["layer1"], frames=frames, fit_frames=frames, max_epochs=20,
    ...                      progress=False)
    >>> modes["loadings"].dims
    ('frame', 'cell', 'mode')
    >>> bool(modes["n_modes"].sum() > 0)
    True
    """
    config, sae_params, flat = _setup(model, recording, layers, preset, options)
    samples = _samples(model, recording, flat, config, frames, fit_frames, seed, device, progress)
    return _modes(model, recording, samples, layers, config, sae_params, preset, seed, device, progress)


def seed_sweep(model: BNCNN, recording: xr.Dataset, seeds: Sequence[int] = (0, 1, 2, 3, 4),
               layers: Sequence[str] = ("layer1", "layer2"), *, preset: str = DEFAULT_PRESET,
               frames: np.ndarray | None = None, fit_frames: np.ndarray | None = None, device: str | None = "cpu",
               progress: bool | str | None = None, **options) -> list[xr.Dataset]:
    """:func:`decompose` once per SAE seed, the contributions computed once.

    The training frames the SAEs learn from (``fit_on="train"``) are drawn with the first
    seed, so that the runs differ in the SAE's seed only. Compare the runs with
    :func:`~retinacodec.codec.stability.mode_stability`.

    Parameters
    ----------
    model, recording, layers, preset, frames, fit_frames, device, progress, **options
        As for :func:`decompose`.
    seeds : sequence of int
        The SAE seeds, one run each.

    Returns
    -------
    list of xarray.Dataset
        One :func:`decompose` result per seed, in the order of ``seeds``.

    Examples
    --------
    Two SAE seeds on the sample model's layer 1, 100 test frames and a short SAE fit:

    >>> rec, truth = rc.load_sample()
    >>> model = rc.load_sample_model()
    >>> frames = np.flatnonzero(rec["block"].values == "test")[:100]
    >>> runs = rc.codec.seed_sweep(model, rec, [0, 1], ["layer1"], frames=frames, fit_frames=frames,
    ...                            max_epochs=20, n_init=1, progress=False)
    >>> [run.attrs["seed"] for run in runs]
    [0, 1]
    >>> stability = rc.codec.mode_stability(runs)
    >>> float(stability["reproduced"].sel(run=0, sae="layer1"))  # the reference reproduces itself
    1.0
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed.")
    config, sae_params, flat = _setup(model, recording, layers, preset, options)
    samples = _samples(model, recording, flat, config, frames, fit_frames, seeds[0], device, progress)
    return [_modes(model, recording, samples, layers, config, sae_params, preset, seed, device, progress)
            for seed in seeds]


def save_modes(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a :func:`decompose` result to NetCDF atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        The modes.
    path : path-like
        Destination ``.nc`` file.

    Returns
    -------
    pathlib.Path
    """
    return save_netcdf(ds, path)
