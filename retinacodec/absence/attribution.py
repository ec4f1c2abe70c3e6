"""Attribution of encoded absences (METHODS.md §6; Hesse et al. 2026).

A zero baseline gives an absent concept (a gray frame where a flash was expected) zero
attribution: integrated gradients multiply by ``x − x₀``, which is zero there. Two remedies:

* **from a reference that contains the concept** — attribute F(x) − F(x_ref) along the path
  from the reference (the flash train with the omitted flash present) to the actual input
  (:func:`absence_attribution`, :func:`omitted_flash_attribution`);
* **the non-target class** — for a classifier, explain the logit of another class on inputs
  where the concept is present, keep signs, and read the negative attributions
  (:func:`nontarget_attribution`).

Both run through the contribution engine (:func:`retinacodec.attribution.contributions`): the
input is read at an identity module in front of the model, so the input and any hidden
layers come from one interpolation pass, with the engine's quadrature (trapezoid rule with
the first downstream ReLU's kinks integrated exactly). The base methods are integrated
gradients (50 steps, as the official code) and gradient × input, here
``∇F(x) · (x − x_ref)`` (for hidden layers ``∇_a F(x) · (a(x) − a(x_ref))``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from scipy.optimize import nnls
from torch import nn

from retinacodec.absence.units import is_retina_model, label_input
from retinacodec.attribution import contributions
from retinacodec.attribution.hooks import model_device, prepared
from retinacodec.attribution.targets import TargetSpec, resolve_target
from retinacodec.sim import stimuli

__all__ = ["METHODS", "absence_attribution", "mode_projection", "nontarget_attribution", "omitted_flash_attribution",
           "omitted_flash_windows"]

METHODS = ("integrated_gradients", "gradient_x_input")
INPUT = "input"
INNER = "model"


class _InputTap(nn.Module):
    """The model behind an identity module named ``input``, so the engine can hook the input."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.input = nn.Identity()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.input(x))


def _check_shape(model: nn.Module, x: torch.Tensor, what: str) -> None:
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty batch (n, ...); got shape {tuple(x.shape)}.")
    if is_retina_model(model):
        expected = (model.config.history, *model.config.input_size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"the model expects {what} of shape (n, {', '.join(map(str, expected))}) = (n, history, "
                             f"ny, nx); got {tuple(x.shape)}. Build windows with "
                             "retinacodec.absence.recording_windows.")


def absence_attribution(
    model: nn.Module,
    inputs: torch.Tensor | np.ndarray,
    reference: torch.Tensor | np.ndarray | None,
    target: TargetSpec = "all",
    *,
    layers: str | Sequence[str] = (),
    method: str = "integrated_gradients",
    steps: int = 50,
    target_names: Sequence | None = None,
    batch_size: int | None = None,
    max_memory_gb: float = 2.0,
    device: str | torch.device | None = None,
) -> xr.Dataset:
    """Attribute F(x) − F(x_ref) to the input and hidden units, from a reference holding the concept.

    Parameters
    ----------
    model : nn.Module
        A BNCNN (inputs: z-scored windows ``(n, history, ny, nx)``) or any model on images
        ``(n, channel, y, x)`` (or flat features).
    inputs : tensor or ndarray, shape (n, ...)
        The actual inputs x (e.g. the flash train with one flash omitted).
    reference : tensor or ndarray, broadcastable to ``inputs``, or None
        x_ref, the inputs with the concept present (the train with every flash). None: zeros
        (the mean luminance of z-scored windows) — plain zero-baseline attribution, blind to
        absences.
    target : str, int, sequence of int, Surprisal or callable
        What is explained (:func:`retinacodec.attribution.targets.resolve_target`): ``"all"``
        (each cell or logit), ``"sum"``, ``"logit:<k>"``, an int ...
    layers : str or sequence of str
        Hidden layers to attribute to as well (``"layer1"``), from the same pass.
    method : {"integrated_gradients", "gradient_x_input"}
        Path integral over ``steps`` steps, or ``∇F(x) · (x − x_ref)`` (one step, the
        gradient at x).
    steps : int
        Interpolation steps of integrated gradients (50: the official code, captum's default).
    target_names : sequence, optional
        Labels of the model outputs.
    batch_size, max_memory_gb, device
        As for :func:`retinacodec.attribution.contributions`.

    Returns
    -------
    xarray.Dataset
        - ``input (sample, target, sign, *input)``: the input attribution split into its
          positive (``sign="pos"``) and negative (``"neg"``) parts; their sum is the signed
          attribution. Input dims ``(lag, y, x)`` for a BNCNN (``lag``: frames before the
          response frame), ``(channel, y, x)`` for images;
        - one variable per hidden layer, dims ``(sample, target, sign, <layer>_channel,
          <layer>_y, <layer>_x)`` (the engine's layout, :func:`retinacodec.attribution.layer_contributions`
          gives plain names);
        - ``completeness_error``, ``completeness_relative`` ``(layer, sample, target)`` (layer
          ``"input"`` first), ``output_difference (sample, target)`` = F(x) − F(x_ref);
        - attrs: ``method``, ``steps``, ``reference``, ``target`` and the engine's parameters.

        Units: those of the target (spikes per frame for a cell's rate).

    Notes
    -----
    With integrated gradients the sum of each layer's (and the input's) attributions equals
    F(x) − F(x_ref) up to the quadrature error, reported per sample; on the sample model at
    50 steps after an omitted flash it is at most ~2e-3 relative for the hidden layers and
    ~2e-2 for the input (whose gradient also jumps at the second ReLU's kinks, which the rule
    does not integrate exactly): ``benchmarks/bench_absence.py``.

    Examples
    --------
    Attribution of the sample model's cells to a flash train with one flash omitted, from the same
    train with that flash present (the reference contains the concept):

    >>> import torch
    >>> model = rc.load_sample_model()
    >>> present = torch.zeros(1, 40, 20, 20)
    >>> present[:, ::8] = -2.0  # a dark full-field flash every 8 frames
    >>> omitted = present.clone()
    >>> omitted[:, -8] = 0.0  # the latest flash is missing
    >>> ds = rc.absence.absence_attribution(model, omitted, present, layers=["layer1"])
    >>> ds["input"].dims
    ('sample', 'target', 'sign', 'lag', 'y', 'x')
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    x = torch.as_tensor(inputs)
    _check_shape(model, x, "inputs")
    hidden = [layers] if isinstance(layers, str) else list(layers)
    tap = _InputTap(model)
    engine = {"method": "integrated_gradients", "steps": int(steps), "rule": "trapezoid"}
    if method == "gradient_x_input":
        engine = {"method": "integrated_gradients", "steps": 1, "rule": "right"}  # g(x) · (a(x) − a(x_ref))
    ds = contributions(tap, x, [INPUT, *(f"{INNER}.{name}" for name in hidden)], target, baseline=reference,
                       split_sign=True, target_names=target_names, batch_size=batch_size, max_memory_gb=max_memory_gb,
                       device=device, **engine)
    names = {f"{INNER}.{name}": name for name in hidden}
    ds = ds.rename({v: names[v] for v in ds.data_vars if v in names})
    ds = ds.rename({d: d[len(INNER) + 1:] for d in ds.dims if d.startswith(f"{INNER}.")})
    ds = ds.assign_coords(layer=[names.get(str(v), str(v)) for v in ds["layer"].values])
    raw = ds[INPUT]
    labelled = label_input(model, raw.values, ("sample", "target", "sign"), INPUT,
                           {"sample": raw["sample"].values, "target": raw["target"].values, "sign": raw["sign"].values})
    ds = ds.drop_vars(INPUT)
    ds[INPUT] = labelled
    ds[INPUT].attrs["description"] = "input attribution, positive and negative parts (sum over sign: signed)"
    for key in ("kink_correction", "affine_stem", "smooth_output"):  # module names as the model spells them
        ds.attrs[key] = re.sub(rf"(?<![\w.]){INNER}\.", "", str(ds.attrs[key]))
    ds.attrs.update(method=method, steps=int(steps) if method == "integrated_gradients" else 1,
                    reference="zeros" if reference is None else "given", layers=[INPUT, *hidden])
    return ds


def nontarget_attribution(
    model: nn.Module,
    inputs: torch.Tensor | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    nontarget: int | Sequence[int] | np.ndarray | None = None,
    *,
    method: str = "integrated_gradients",
    steps: int = 50,
    baseline: torch.Tensor | np.ndarray | None = None,
    layers: str | Sequence[str] = (),
    device: str | torch.device | None = None,
) -> xr.Dataset:
    """Explain a non-target class's logit on inputs where the concept is present.

    A class whose logit falls when a concept appears encodes that concept's absence. On an
    input of class ``label`` (the concept present), the attributions to the logit of another
    class that are **negative** show where the present concept lowers it (Hesse et al. 2026).

    Parameters
    ----------
    model : nn.Module
        A classifier: ``(n, ...)`` → logits ``(n, n_classes)``.
    inputs : tensor or ndarray, shape (n, ...)
    labels : sequence of int, shape (n,)
        The class of each input (whose concept is present).
    nontarget : int or sequence of int, optional
        The class to explain, for all inputs or per input; it must differ from the label.
        Default: the other class of a two-class model, otherwise the highest-scoring class
        other than the label.
    method, steps : as for :func:`absence_attribution`
    baseline : tensor or ndarray, optional
        Reference input; default zeros, as the official code.
    layers : str or sequence of str
        Hidden layers to attribute to as well.
    device : str or torch.device, optional

    Returns
    -------
    xarray.Dataset
        ``input (sample, sign, *input)`` — read ``input.sel(sign="neg")``; hidden layers as in
        :func:`absence_attribution` without the target dim; ``label``, ``nontarget``,
        ``output_difference`` (the non-target logit minus its value at the baseline) and
        ``completeness_relative`` per sample.
    """
    x = torch.as_tensor(inputs)
    _check_shape(model, x, "inputs")
    labels = np.asarray(labels, dtype=int).reshape(-1)
    if labels.size != x.shape[0]:
        raise ValueError(f"got {labels.size} labels for {x.shape[0]} inputs.")
    dev = torch.device(device) if device is not None else model_device(model)
    with prepared(model, dev), torch.no_grad():
        logits = model(x.to(dev, next(model.parameters()).dtype)).reshape(x.shape[0], -1).cpu().numpy()
    n_classes = logits.shape[1]
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1} (the model has {n_classes} outputs).")
    if nontarget is None:
        others = logits.copy()
        others[np.arange(labels.size), labels] = -np.inf
        nontarget = others.argmax(1)
    nontarget = np.broadcast_to(np.asarray(nontarget, dtype=int), labels.shape).copy()
    if (nontarget == labels).any() or nontarget.min() < 0 or nontarget.max() >= n_classes:
        raise ValueError(f"each non-target class must differ from the input's label and lie in 0..{n_classes - 1}.")
    parts = []
    for k in np.unique(nontarget):
        idx = np.flatnonzero(nontarget == k)
        ref = None if baseline is None else torch.as_tensor(baseline).broadcast_to(x.shape)[idx]
        ds = absence_attribution(model, x[idx], ref, int(k), layers=layers, method=method, steps=steps, device=device)
        parts.append(ds.squeeze("target", drop=True).assign_coords(sample=idx))
    out = xr.concat(parts, dim="sample", data_vars="all").sortby("sample")
    out["label"] = ("sample", labels)
    out["nontarget"] = ("sample", nontarget)
    out.attrs.update(parts[0].attrs, target="logit of the non-target class", reference=(
        "zeros" if baseline is None else "given"))
    return out


def omitted_flash_windows(model: nn.Module, period: int, *, n_flashes: int = 5, duration: int = 2,
                          intensity: float = -2.0) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Windows of a flash train with its last flash omitted (actual) and present (reference).

    The movie is ``history`` gray frames, then ``n_flashes`` flashes every ``period`` frames
    (``stimuli.flash_sequence``), then the omitted one; z-scored with ``model.normalization``.

    Parameters
    ----------
    model : BNCNN
    period, n_flashes, duration, intensity
        As for :func:`omitted_flash_attribution`.

    Returns
    -------
    actual, reference : torch.Tensor, shape (history - duration + 1, history, ny, nx)
        Window ``d`` ends ``d`` frames after the omitted flash's last frame: every window
        holds the whole omitted flash.
    omitted : int
        Movie frame of the omitted flash's onset.
    first : int
        Movie frame the first window ends at (the omitted flash's last frame).
    """
    h = int(model.config.history)
    onsets = [h + i * period for i in range(n_flashes + 1)]
    omitted = onsets[-1]
    search = h - duration + 1
    n = omitted + search + 1
    size = tuple(model.config.input_size)
    movies = [stimuli.flash_sequence(n, shown, duration, intensity, size) for shown in (onsets[:-1], onsets)]
    first = omitted + duration - 1  # the first response frame that sees the whole omitted flash
    ends = np.arange(first, first + search)
    out = []
    for movie in movies:
        z = torch.from_numpy(model.normalization.apply(movie))
        out.append(torch.stack([z[e - h + 1:e + 1] for e in ends]))
    return out[0], out[1], omitted, first


def omitted_flash_attribution(
    model: nn.Module,
    period: int,
    *,
    n_flashes: int = 5,
    duration: int = 2,
    intensity: float = -2.0,
    target: TargetSpec = "sum",
    response_frame: int | None = None,
    method: str = "integrated_gradients",
    steps: int = 50,
    device: str | torch.device | None = None,
) -> xr.Dataset:
    """How much attribution the omitted flash gets, from the flash-present reference and from zeros.

    A periodic train of ``n_flashes`` full-field flashes (``stimuli.flash_sequence``) is
    followed by one omitted flash; the reference is the same train with that flash present.
    At one response frame after the omission, the model's target is attributed to the input
    twice: from the reference (absence attribution) and from the zero baseline (mean
    luminance). The share of the absolute attribution that falls on the omitted flash's
    frames (every pixel) measures which method sees the absence.

    Parameters
    ----------
    model : BNCNN
        A fitted model (with ``normalization``).
    period : int
        Frames from one flash onset to the next (> ``duration``).
    n_flashes : int
        Flashes shown before the omitted one (torch-deep-retina's OSR default: 5).
    duration : int
        Frames per flash (default 2).
    intensity : float
        Flash contrast (default −2: dark flashes, as torch-deep-retina).
    target : str, int or callable
        One scalar: ``"sum"`` (the population), a cell index, ...
    response_frame : int, optional
        Frames after the omitted flash's last frame at which to explain the response. Default:
        the frame within one period where the response to the omission exceeds the response
        to the flash most (the omitted stimulus response's peak, as this model sees it).
    method, steps
        As for :func:`absence_attribution`.
    device : str or torch.device, optional

    Returns
    -------
    xarray.Dataset
        - ``mass_fraction (baseline)``: share of Σ|attribution| on the omitted flash's frames,
          for ``baseline="reference"`` (flash present) and ``"zero"``;
        - ``profile (baseline, lag)``: the signed attribution summed over space;
        - ``output_difference``, ``completeness_relative`` ``(baseline)``;
        - ``response (condition, delay)``: the target on the train with the flash omitted
          (``"actual"``) and present (``"reference"``), ``delay`` frames after the omitted
          flash's last frame;
        - coord ``omitted (lag)``: the omitted flash's frames; attrs: the parameters and
          ``response_frame`` (its delay).

    Notes
    -----
    Both base methods multiply by ``x − x_ref``, and the two trains differ only on the omitted
    flash's frames, so from the reference the share is 1 by construction; what the reference
    adds is the signed amount the missing flash is worth (``output_difference``) and, through
    :func:`absence_attribution` with ``layers=``, which hidden units carry it. From the zero
    baseline the grey frames where the flash is missing get attribution only in as far as grey
    differs from the training mean (``model.normalization``).
    """
    if not is_retina_model(model) or not hasattr(model, "normalization"):
        raise ValueError("omitted_flash_attribution needs a fitted BNCNN (with config and normalization).")
    h = int(model.config.history)
    if not 0 < duration < period:
        raise ValueError(f"need 0 < duration < period; got duration {duration}, period {period}.")
    if duration > h:
        raise ValueError(f"the flash ({duration} frames) must fit in the model's {h}-frame history.")
    search = h - duration + 1  # response frames whose window still holds the whole omitted flash
    actual, reference, omitted, first = omitted_flash_windows(model, int(period), n_flashes=int(n_flashes),
                                                             duration=int(duration), intensity=float(intensity))
    dev = torch.device(device) if device is not None else model_device(model)
    with prepared(model, dev), torch.no_grad():
        out = [model(w.to(dev)).reshape(search, -1) for w in (actual, reference)]
        tgt = resolve_target(target, out[0][:1])
        if len(tgt.names) != 1:
            raise ValueError(f"target must be one scalar ('sum', a cell index ...); {target!r} gives {len(tgt.names)}.")
        response = np.stack([tgt(o)[:, 0].double().cpu().numpy() for o in out])
    if response_frame is None:
        within = min(int(period), search)
        delay = int(np.argmax(response[0, :within] - response[1, :within]))
    else:
        delay = int(response_frame)
        if not 0 <= delay < search:
            raise ValueError(f"response_frame must lie in 0..{search - 1} (the window must hold the omitted flash).")
    x, ref = actual[delay:delay + 1], reference[delay:delay + 1]
    results = {name: absence_attribution(model, x, r, target, method=method, steps=steps, device=device)
               for name, r in (("reference", ref), ("zero", None))}
    omitted_lags = np.zeros(h, dtype=bool)
    end = first + delay
    for f in range(omitted, omitted + duration):
        omitted_lags[h - 1 - (end - f)] = True
    profiles, fractions, diffs, errors = [], [], [], []
    for ds in results.values():
        a = ds["input"].isel(sample=0, target=0).sum("sign")
        mass = np.abs(a.values).sum(axis=(1, 2))
        profiles.append(a.sum(("y", "x")).values)
        fractions.append(float(mass[omitted_lags].sum() / max(mass.sum(), 1e-30)))
        diffs.append(float(ds["output_difference"].values[0, 0]))
        errors.append(float(ds["completeness_relative"].sel(layer="input").values[0, 0]))
    lag = results["reference"]["input"]["lag"].values
    return xr.Dataset(
        {
            "mass_fraction": ("baseline", fractions),
            "profile": (("baseline", "lag"), np.stack(profiles)),
            "output_difference": ("baseline", diffs),
            "completeness_relative": ("baseline", errors),
            "response": (("condition", "delay"), response),
        },
        coords={"baseline": ["reference", "zero"], "lag": lag, "omitted": ("lag", omitted_lags),
                "condition": ["actual", "reference"], "delay": np.arange(search)},
        attrs={"period": int(period), "n_flashes": int(n_flashes), "duration": int(duration),
               "intensity": float(intensity), "response_frame": delay, "target": tgt.description, "method": method,
               "steps": int(steps), "description": "attribution of the response after an omitted flash: from the "
               "train with the flash present (reference) and from the mean luminance (zero)"},
    )


def _layer_features(ds: xr.Dataset, layer: str) -> np.ndarray:
    """(sample, target, 2C): a layer's contributions, positive then negative part per channel, summed over space."""
    da = ds[layer].transpose("sample", "target", "sign", f"{layer}_channel", ...)
    v = da.values
    v = v.reshape(*v.shape[:4], -1).sum(-1)
    return v.reshape(v.shape[0], v.shape[1], -1)


def _sparse_nnls(a: np.ndarray, b: np.ndarray, k: int | None) -> tuple[np.ndarray, float]:
    """Non-negative coefficients of the columns of ``a`` for ``b``, at most ``k`` of them non-zero.

    With ``k`` None: plain non-negative least squares. Otherwise greedy non-negative matching
    pursuit: add the column most positively correlated with the residual, refit NNLS on the
    chosen columns, stop after ``k`` or when no column correlates positively.

    Returns
    -------
    coef : ndarray, shape (n_columns,)
    residual_norm : float
    """
    if k is None or k >= a.shape[1]:
        return nnls(a, b)
    coef, chosen, resid = np.zeros(a.shape[1]), [], b.copy()
    norms = np.maximum(np.linalg.norm(a, axis=0), 1e-30)
    for _ in range(k):
        corr = (a.T @ resid) / norms
        corr[chosen] = -np.inf
        best = int(np.argmax(corr))
        if corr[best] <= 0:
            break
        chosen.append(best)
        sub, _ = nnls(a[:, chosen], b)
        coef[:] = 0
        coef[chosen] = sub
        resid = b - a @ coef
    return coef, float(np.linalg.norm(resid))


def mode_projection(result: xr.Dataset, modes: xr.Dataset, max_modes: int | None | str = "auto") -> xr.Dataset:
    """Which CODEC modes carry a hidden-layer absence attribution.

    The hidden layers' attributions of an :func:`absence_attribution` result are reduced as
    CODEC reduces contributions (positive and negative part of each channel, summed over
    space: METHODS.md §2) and written as a non-negative combination of each SAE's modes (the
    SAE codes are non-negative). With an overcomplete dictionary (more atoms than features)
    an unrestricted fit explains any vector, so by default the combination is as sparse as
    the SAE's codes: at most ``k`` modes for a TopK SAE (greedy non-negative matching pursuit).

    Parameters
    ----------
    result : xarray.Dataset
        From :func:`absence_attribution` with ``layers=`` covering the modes' layers.
    modes : xarray.Dataset
        A :func:`retinacodec.decompose` result (``modes (mode, feature)`` with ``layer``,
        ``sign``, ``channel`` feature coords, ``mode_layer``).
    max_modes : int, None or "auto"
        Most modes per SAE in the combination; None: unrestricted non-negative least
        squares; ``"auto"``: the SAE's ``k`` for ``sae_kind`` ``"topk"`` / ``"batchtopk"``,
        else unrestricted.

    Returns
    -------
    xarray.Dataset
        ``loading (sample, target, mode)``: the NNLS coefficients (the features' units per
        atom unit); ``cosine (sample, target, mode)``: cosine similarity of the features with
        each atom; ``r2 (sample, target, sae)``: share of the features' sum of squares the
        combination explains; ``features (sample, target, feature)``.
    """
    feats = modes["modes"]
    needed = list(dict.fromkeys(str(v) for v in feats["layer"].values))
    missing = [name for name in needed if name not in result.data_vars]
    if missing:
        raise ValueError(f"the result has no attributions for layer(s) {missing}; rerun absence_attribution with "
                         f"layers={needed}.")
    per_layer = {name: _layer_features(result, name) for name in needed}
    n_s, n_t = result.sizes["sample"], result.sizes["target"]
    f = np.zeros((n_s, n_t, feats.sizes["feature"]))
    for j, (layer, sign, channel) in enumerate(zip(feats["layer"].values, feats["sign"].values,
                                                   feats["channel"].values, strict=True)):
        block = per_layer[str(layer)]
        n_c = block.shape[2] // 2
        if int(channel) >= n_c:
            raise ValueError(f"the modes have channel {int(channel)} of {layer}, the result only {n_c} channels.")
        f[:, :, j] = block[:, :, (0 if str(sign) == "pos" else n_c) + int(channel)]
    if max_modes == "auto":
        max_modes = int(modes.attrs["k"]) if modes.attrs.get("sae_kind") in ("topk", "batchtopk") else None
    k_max = None if max_modes is None else int(max_modes)
    atoms = feats.values.astype(np.float64)
    loading = np.zeros((n_s, n_t, atoms.shape[0]))
    saes = [str(s) for s in modes["sae"].values]
    r2 = np.zeros((n_s, n_t, len(saes)))
    for k, sae in enumerate(saes):
        rows = np.flatnonzero(modes["mode_layer"].values == sae)
        cols = np.flatnonzero(np.isin(feats["layer"].values, sae.split("+")))
        if rows.size == 0:
            continue
        a = atoms[np.ix_(rows, cols)].T
        for i in range(n_s):
            for t in range(n_t):
                b = f[i, t, cols]
                coef, resid = _sparse_nnls(a, b, k_max)
                loading[i, t, rows] = coef
                r2[i, t, k] = 1 - resid**2 / max(float(b @ b), 1e-30)
    norms = np.linalg.norm(atoms, axis=1) * np.linalg.norm(f, axis=2, keepdims=True)
    cosine = np.einsum("stf,mf->stm", f, atoms) / np.maximum(norms, 1e-30)
    return xr.Dataset(
        {"loading": (("sample", "target", "mode"), loading), "cosine": (("sample", "target", "mode"), cosine),
         "r2": (("sample", "target", "sae"), r2), "features": (("sample", "target", "feature"), f)},
        coords={"sample": result["sample"].values, "target": result["target"].values, "mode": modes["mode"].values,
                "mode_layer": ("mode", modes["mode_layer"].values), "sae": saes,
                **{c: ("feature", feats[c].values) for c in ("layer", "sign", "channel")}},
        attrs={"description": "absence attributions of hidden layers as non-negative combinations of CODEC modes",
               "max_modes": "unrestricted" if k_max is None else k_max,
               "method": result.attrs.get("method", ""), "reference": result.attrs.get("reference", "")},
    )
