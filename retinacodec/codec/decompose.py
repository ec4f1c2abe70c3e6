"""CODEC step 2: contributions (or activations) → sparse autoencoder → modes and loadings.

:func:`decompose` runs the whole pipeline on a fitted model and a recording (METHODS.md §3):

1. **Samples.** For every target frame and every cell, each hooked layer's contributions to
   that cell are split by sign and summed over space: a vector of 2C values per layer (the
   positive part, then the negative part, of each of its C channels). A sample is one
   ``(frame, cell)`` pair, so the modes are shared by all cells and every cell gets its own
   loading time course. With ``source="activations"`` the samples are the layers'
   pre-nonlinearity activations, split by sign and summed over space, one per frame.
2. **Modes.** One sparse autoencoder per layer group (``"layer1"``, or ``"layer1+layer2"``
   for one SAE on the concatenated features), trained on samples from frames of the
   training block (a seeded subset) and applied to the analysed frames (by default test
   repeat 0), so the loadings are held out. The dictionary atoms are the modes; the codes
   are the loadings.
3. **Output.** One :class:`xarray.Dataset`, NetCDF-friendly (see :func:`fit_modes`).

Target of the contributions (``output``): ``"generator"`` (default) explains each cell's
pre-nonlinearity output — the readout's BatchNorm output, before the Softplus — and
``"rate"`` the firing rate itself. The Softplus only rescales every contribution of a
frame by the same local gain, so the generator's contributions keep the additive structure
of the circuit (the ground-truth retina's generator is ON drive + OFF drive − inhibition)
while the rate's are dominated by when the cell is above threshold.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from retinacodec.atomic import save_netcdf
from retinacodec.attribution import contributions_for_recording
from retinacodec.attribution.hooks import prepared, resolve_layers
from retinacodec.device import resolve_device
from retinacodec.models import BNCNN
from retinacodec.recording import validate_recording
from retinacodec.sae import CodecSAE, ReLUSAE, TopKSAE
from retinacodec.sae.base import BaseSAE
from retinacodec.windows import WindowedData

__all__ = [
    "OUTPUTS",
    "SAE_KINDS",
    "SOURCES",
    "activation_features",
    "attribution_model",
    "contribution_features",
    "decompose",
    "fit_modes",
    "make_sae",
    "pre_nonlinearity",
    "save_modes",
]

SAE_KINDS = ("topk", "batchtopk", "relu", "codec")
SOURCES = ("contributions", "activations")
OUTPUTS = ("generator", "rate")
SIGNS = ("pos", "neg")


def make_sae(kind: str = "topk", *, k: int = 3, expansion: float | None = 2.0, seed: int = 0,
             device: str | None = "cpu", progress: bool | None = None, **params) -> BaseSAE:
    """A sparse autoencoder of one kind, for samples ordered in time.

    Parameters
    ----------
    kind : {"topk", "batchtopk", "relu", "codec"}
        :class:`~retinacodec.sae.TopKSAE` (BatchTopK with ``"batchtopk"``),
        :class:`~retinacodec.sae.ReLUSAE` or CODEC's :class:`~retinacodec.sae.CodecSAE`.
    k : int
        Active latents per sample (TopK, BatchTopK only).
    expansion : float, optional
        Dictionary size / input dimension; None for the estimator's default.
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
        Unfitted; holds out contiguous chunks (``split="contiguous"``) since samples are
        time-ordered.
    """
    common = {"expansion": expansion, "seed": seed, "device": device, "progress": progress, "split": "contiguous",
              **params}
    if kind in ("topk", "batchtopk"):
        return TopKSAE(k=k, batch_topk=kind == "batchtopk", **common)
    if kind == "relu":
        return ReLUSAE(**common)
    if kind == "codec":
        return CodecSAE(**common)
    raise ValueError(f"unknown SAE kind {kind!r}; choose one of {SAE_KINDS}.")


def attribution_model(model: BNCNN, output: str) -> BNCNN:
    """The model whose outputs the contributions explain.

    Parameters
    ----------
    model : BNCNN
        A fitted model.
    output : {"generator", "rate"}
        ``"rate"``: the model itself. ``"generator"``: a copy whose final Softplus is the
        identity, so its outputs are the cells' pre-nonlinearity generator signals.

    Returns
    -------
    BNCNN
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}.")
    if output == "rate":
        return model
    readout = getattr(model, "readout", None)
    if not isinstance(getattr(readout, "softplus", None), nn.Softplus):
        raise ValueError("output='generator' needs a model whose readout ends in a Softplus (a BNCNN); "
                         "use output='rate'.")
    generator = copy.deepcopy(model)
    generator.readout.softplus = nn.Identity()
    return generator


def pre_nonlinearity(model: nn.Module, layer: str) -> str:
    """Name of the module whose output is ``layer``'s pre-nonlinearity activation.

    For a ``Sequential`` layer ending in a ReLU (a BNCNN's ``conv → bn → noise → relu``) it
    is the module just before the ReLU (``"layer1.noise"``, equal to the BatchNorm output in
    eval mode); any other module is its own pre-nonlinearity point.
    """
    module = resolve_layers(model, layer)[layer]
    children = list(module.named_children())
    if isinstance(module, nn.Sequential) and len(children) > 1 and isinstance(children[-1][1], nn.ReLU):
        return f"{layer}.{children[-2][0]}"
    return layer


def _feature_coords(layers: Sequence[str], channels: Sequence[int]) -> dict[str, tuple[str, np.ndarray]]:
    """Coordinates of the ``feature`` dim: per layer, the 2C (sign, channel) features."""
    layer, sign, channel = [], [], []
    for name, n in zip(layers, channels, strict=True):
        for s in SIGNS:
            layer += [name] * n
            sign += [s] * n
            channel += list(range(n))
    return {"layer": ("feature", np.asarray(layer)), "sign": ("feature", np.asarray(sign)),
            "channel": ("feature", np.asarray(channel))}


def contribution_features(model: BNCNN, recording: xr.Dataset, layers: Sequence[str], frames: np.ndarray, *,
                          output: str = "generator", method: str = "activation_x_gradient", steps: int = 20,
                          rule: str = "trapezoid", device: str | torch.device | None = None,
                          progress: bool | None = None, chunk_size: int = 512) -> xr.DataArray:
    """Contributions of each layer to each cell, split by sign and summed over space.

    Parameters
    ----------
    model : BNCNN
        A fitted model.
    recording : xarray.Dataset
        A Recording with the model's frame size.
    layers : sequence of str
        Hidden layers, e.g. ``["layer1", "layer2"]``.
    frames : ndarray of int, shape (n_frames,)
        Target frames.
    output : {"generator", "rate"}
        What the contributions explain (:func:`attribution_model`).
    method, steps, rule
        As for :func:`retinacodec.attribution.contributions`.
    device : str or torch.device, optional
        Where to compute.
    progress : bool, optional
        Progress bar; default only on a terminal.
    chunk_size : int
        Frames per attribution call.

    Returns
    -------
    xarray.DataArray, shape (frame, cell, feature)
        Units of the explained output (spikes per frame, or generator units). The feature
        coords ``layer``, ``sign`` and ``channel`` label each of the 2C values per layer.
        Attr ``completeness_relative_max``: the largest relative completeness error.
    """
    ds = contributions_for_recording(attribution_model(model, output), recording, list(layers), frames=frames,
                                     target="all", method=method, steps=steps, rule=rule, reduce="space",
                                     split_sign=True, device=device, progress=progress, chunk_size=chunk_size)
    parts = [ds[name].transpose("frame", "target", "sign", ...).values for name in layers]
    values = np.concatenate([p.reshape(p.shape[0], p.shape[1], -1) for p in parts], axis=2)
    return xr.DataArray(
        values, dims=("frame", "cell", "feature"), name="contributions",
        coords={"frame": ds["frame"].values, "time": ("frame", ds["time"].values),
                "cell": recording["cell"].values, **_feature_coords(layers, [p.shape[-1] for p in parts])},
        attrs={"completeness_relative_max": float(ds["completeness_relative"].max()),
               "units": "spikes per frame" if output == "rate" else "generator units"},
    )


@torch.no_grad()
def activation_features(model: BNCNN, recording: xr.Dataset, layers: Sequence[str], frames: np.ndarray, *,
                        device: str | torch.device | None = None, progress: bool | None = None,
                        batch_size: int = 1024) -> xr.DataArray:
    """Pre-nonlinearity activations of each layer, split by sign and summed over space.

    Parameters
    ----------
    model : BNCNN
        A fitted model (with ``normalization``).
    recording : xarray.Dataset
        A Recording with the model's frame size.
    layers : sequence of str
        Hidden layers; each is read at :func:`pre_nonlinearity` (after a ReLU every negative
        part would be zero).
    frames : ndarray of int, shape (n_frames,)
        Target frames.
    device : str or torch.device, optional
        Where to compute; default the model's device.
    progress : bool, optional
        Progress bar; default only on a terminal.
    batch_size : int
        Frames per forward pass.

    Returns
    -------
    xarray.DataArray, shape (frame, feature)
        Activation units; feature coords as in :func:`contribution_features`; attr
        ``modules`` names the hooked modules.
    """
    validate_recording(recording)
    names = [pre_nonlinearity(model, name) for name in layers]
    modules = resolve_layers(model, names)
    data = WindowedData(recording, model.config.history, model.normalization)
    dev = resolve_device(device) if device is not None else next(model.parameters()).device
    captured: dict[str, torch.Tensor] = {}
    chunks: list[np.ndarray] = []

    def hook(name: str):  # noqa: ANN202
        def record(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            flat = out.flatten(2)
            captured[name] = torch.cat([flat.clamp(min=0).sum(2), flat.clamp(max=0).sum(2)], dim=1)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in modules.items()]
    try:
        with prepared(model, dev):
            for start in tqdm(range(0, len(frames), batch_size), desc="activations", unit="batch",
                              disable=(not progress) if progress is not None else None):
                x, _ = data.batch(frames[start:start + batch_size], dev)
                model(x)
                chunks.append(torch.cat([captured[n] for n in names], dim=1).cpu().numpy())
    finally:
        for h in handles:
            h.remove()
    channels = [captured[n].shape[1] // 2 for n in names]
    return xr.DataArray(
        np.concatenate(chunks).astype(np.float32), dims=("frame", "feature"), name="activations",
        coords={"frame": np.asarray(frames), "time": ("frame", recording["time"].values[frames]),
                **_feature_coords(layers, channels)},
        attrs={"modules": names, "units": "activation units"},
    )


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


def fit_modes(fit_features: xr.DataArray, features: xr.DataArray, layers: Sequence[str], *, sae: str = "topk",
              k: int = 3, expansion: float | None = 2.0, seed: int = 0, device: str | None = "cpu",
              progress: bool | None = None, **sae_params) -> xr.Dataset:
    """Fit one SAE per layer group and label its modes and loadings.

    Parameters
    ----------
    fit_features : xarray.DataArray, shape (frame, [cell,] feature)
        Samples to train on (every leading index is one sample), with the ``feature`` coords
        ``layer``, ``sign``, ``channel`` of :func:`contribution_features`.
    features : xarray.DataArray, same feature dim
        Samples to compute loadings for (e.g. the test frames).
    layers : sequence of str
        One SAE per entry; ``"layer1+layer2"`` fits one SAE on both layers' features.
    sae, k, expansion, seed, device, progress, **sae_params
        The SAE (:func:`make_sae`).

    Returns
    -------
    xarray.Dataset
        - ``modes (mode, feature)``: the atoms, in the features' units; zero outside the
          mode's own layers;
        - ``loadings (frame, [cell,] mode)``: the codes of ``features``;
        - the features themselves, named as ``features`` is (``contributions`` or
          ``activations``);
        - per SAE (dim ``sae``, the group names): ``r2``, ``l0``, ``dead_fraction``,
          ``dense_fraction`` on held-out training samples, ``n_modes`` kept;
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
    atoms, codes, mode_layer, metrics = [], [], [], []
    for group in tqdm(groups, desc="sae per layer", unit="layer", disable=(not progress) if progress is not None
                      else None):
        cols = np.flatnonzero(np.isin(features["layer"].values, group))
        estimator = make_sae(sae, k=k, expansion=expansion, seed=seed, device=device, progress=progress,
                             **sae_params)
        estimator.fit(fit_features.values[..., cols].reshape(-1, cols.size))
        codes.append(estimator.transform(features.values[..., cols].reshape(-1, cols.size)))
        full = np.zeros((estimator.modes_.shape[0], n_features), dtype=np.float32)
        full[:, cols] = estimator.modes_
        atoms.append(full)
        mode_layer += ["+".join(group)] * full.shape[0]
        metrics.append({**estimator.metrics_, "n_modes": full.shape[0]})
    lead = features.dims[:-1]
    name = features.name or "features"
    loadings = np.concatenate(codes, axis=1).reshape(*(features.sizes[d] for d in lead), -1)
    names = ["+".join(g) for g in groups]
    ds = xr.Dataset(
        {
            "modes": (("mode", "feature"), np.concatenate(atoms)),
            "loadings": ((*lead, "mode"), loadings),
            name: features,
            **{m: ("sae", [float(x[m]) for x in metrics]) for m in ("r2", "l0", "dead_fraction", "dense_fraction")},
            "n_modes": ("sae", [int(x["n_modes"]) for x in metrics]),
        },
        coords={"mode": np.arange(len(mode_layer)), "mode_layer": ("mode", np.asarray(mode_layer)),
                "sae": np.asarray(names)},
        attrs={"source": name, "layers": names, "sae_kind": sae, "k": int(k),
               "expansion": float(expansion) if expansion is not None else float("nan"), "seed": int(seed),
               "n_fit_samples": int(np.prod(fit_features.shape[:-1])), "n_fit_frames": int(fit_features.sizes["frame"]),
               **{f"sae_{key}": value for key, value in sae_params.items() if isinstance(value, int | float | str)}},
    )
    ds["modes"].attrs["description"] = "SAE dictionary atoms (modes), in the units of the features"
    ds["loadings"].attrs["description"] = "SAE codes (mode loadings) of the analysed frames"
    ds["r2"].attrs["description"] = "reconstruction R^2 on held-out training samples"
    return ds


def _fit_frames(data: WindowedData, frames: np.ndarray, n_fit_frames: int, seed: int) -> np.ndarray:
    """A seeded subset of training-block frames (the analysed frames if there is no training block)."""
    train = data.targets("train")
    if train.size == 0:
        return frames
    if train.size <= n_fit_frames:
        return train
    return np.sort(np.random.default_rng(seed).choice(train, size=n_fit_frames, replace=False))


def decompose(model: BNCNN, recording: xr.Dataset, layers: Sequence[str] = ("layer1", "layer2"), *,
              source: str = "contributions", output: str = "generator", method: str = "activation_x_gradient",
              steps: int = 20, rule: str = "trapezoid", frames: np.ndarray | None = None,
              fit_frames: np.ndarray | None = None, n_fit_frames: int = 4000, sae: str = "topk", k: int = 3,
              expansion: float | None = 2.0, seed: int = 0, device: str | None = "cpu",
              progress: bool | None = None, **sae_params) -> xr.Dataset:
    """Contribution modes of a fitted model on a recording (CODEC, METHODS.md §3).

    Parameters
    ----------
    model : BNCNN
        A fitted model (``fit`` or ``load_model``).
    recording : xarray.Dataset
        A Recording with the model's frame size.
    layers : sequence of str
        One SAE per entry; ``"layer1+layer2"`` concatenates layers into one SAE.
    source : {"contributions", "activations"}
        Decompose contributions to each cell (samples: (frame, cell)) or pre-nonlinearity
        activations (samples: frames), for comparison.
    output : {"generator", "rate"}
        What contributions explain: each cell's pre-Softplus generator (default) or its rate.
    method : {"activation_x_gradient", "integrated_gradients"}
        Attribution method. Activation × gradient is the default: from a hidden layer to the
        generator a BNCNN is piecewise linear (ReLUs and linear maps), and activation ×
        gradient is the exact share of each unit in the generator's local linear map at each
        frame, while integrated gradients from the grey baseline average over the linear
        regions along the path. Integrated gradients (METHODS.md §2) is one argument away.
    steps, rule
        Integrated-gradient steps and quadrature rule.
    frames : ndarray of int, optional
        Frames to compute loadings for; default test repeat 0 (with a full history).
    fit_frames : ndarray of int, optional
        Frames whose samples train the SAEs; default a seeded random subset of
        ``n_fit_frames`` training-block frames (all analysed frames if the recording has no
        training block).
    n_fit_frames : int
        Size of the default training subset.
    sae, k, expansion, seed, device, progress, **sae_params
        The SAE per layer group (:func:`make_sae`); ``seed`` also picks ``fit_frames``.

    Returns
    -------
    xarray.Dataset
        As :func:`fit_modes`; attrs add ``source``, ``output``, ``method``, ``steps``,
        ``rule`` and the contributions' ``completeness_relative_max``.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}; got {source!r}.")
    validate_recording(recording)
    groups = _groups(layers)
    flat = list(dict.fromkeys(name for g in groups for name in g))
    resolve_layers(model, flat)
    data = WindowedData(recording, model.config.history, model.normalization)
    if frames is None:
        frames = data.targets("test", repeat=0)
        if frames.size == 0:
            raise ValueError("the recording has no frames of test repeat 0 with a full history; pass frames=.")
    frames = np.asarray(frames, dtype=np.int64)
    fit_frames = _fit_frames(data, frames, n_fit_frames, seed) if fit_frames is None else np.asarray(fit_frames)
    if source == "contributions":
        options = {"output": output, "method": method, "steps": steps, "rule": rule, "device": device,
                   "progress": progress}
        fit_x = contribution_features(model, recording, flat, fit_frames, **options)
        x = contribution_features(model, recording, flat, frames, **options)
        ig = method == "integrated_gradients"
        extra = {"output": output, "method": method, "steps": int(steps) if ig else 0, "rule": rule if ig else "none",
                 **({"completeness_relative_max": x.attrs["completeness_relative_max"]} if ig else {})}
    else:
        fit_x = activation_features(model, recording, flat, fit_frames, device=device, progress=progress)
        x = activation_features(model, recording, flat, frames, device=device, progress=progress)
        extra = {"modules": x.attrs["modules"]}
    ds = fit_modes(fit_x, x, layers, sae=sae, k=k, expansion=expansion, seed=seed, device=device,
                   progress=progress, **sae_params)
    ds.attrs.update(extra, provenance=str(recording.attrs.get("session_id", "")))
    return ds


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
