"""Named settings of the CODEC pipeline: the paper's retina run, and our per-cell variant.

:func:`~retinacodec.codec.decompose.decompose` starts from a preset and applies the options a
user passes on top. ``"paper"`` is the published retina run of Melander et al. (2026) with
its official code (baccuslab/CODEC_ICLR_2026, ``figures/figure_8_retina/preprocessing/``):

- ``1_save_retinal_contributions.py``: integrated gradients with 20 steps from a zero
  (mean-luminance) baseline, trapezoid rule (bscope ``Scope.use_int_grad(steps=20)``); the
  target is the **surprisal** ``½ (r − μ)ᵀ Σ⁻¹ (r − μ)`` of the model's population rate vector
  (``wrt_surprisal(softmax=False)``, the output after the Softplus); reductions
  ``['ei_split', 'spatial_sum']``: each unit's contribution split by sign, summed over space.
  The official script estimates μ and Σ on the test frames it explains; METHODS.md and our
  default use the training frames (``reference="train"``); ``reference="analysed"`` is the
  official choice. Σ is inverted without regularisation (``surprisal_ridge=0``).
- ``2_decompose_retinal_contributions.py``: one thresholded-sigmoid SAE per layer on those
  contributions (:class:`~retinacodec.codec.sae.CodecSAE`, whose docstring lists each
  hyper-parameter), trained on every explained frame (the test set) and applied to the same
  frames (``fit_on="analysed"``).

Our trapezoid rule corrects for the ReLU kinks along the path
(:mod:`retinacodec.attribution.quadrature`); it converges to the same integral as the
official plain trapezoid rule, only faster.

``"cells"`` is our variant for reading pathways out of each cell: the integrated-gradient
contributions to each cell's generator signal (before the Softplus, so that the additive
structure ON drive + OFF drive − inhibition is not rescaled by the cell's gain), one sample per
(frame, cell), a TopK SAE (k = 3, 2× expansion) trained on 4000 training-block frames with a
held-out split. ``"local"`` is the same with activation × gradient: each unit's share of the
generator's *local* linear map at that frame, with a TopK SAE of k = 4. It does not add up to
F(x) − F(x₀) (median relative error 0.25 on the sample's layer 1, so :func:`decompose` warns),
but its modes follow the simulator's pathway drives most closely: over the ON-OFF cells of the
sample and of fresh simulations with seeds 1 and 2, the worst r of a mode with a true ON or OFF
drive is 0.822, 0.834 and 0.845 (``"cells"``: 0.761, 0.822, 0.847; ``"local"`` with k = 3:
0.859, 0.831, 0.763). The SAE's seed matters: with ``seed=1`` the seed-2 simulation's worst
cell falls to 0.770.
``benchmarks/bench_codec_ground_truth.py`` compares the presets on the simulator's ground truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

__all__ = ["DEFAULT_PRESET", "PRESETS", "CodecConfig", "resolve_config"]


@dataclass(frozen=True)
class CodecConfig:
    """Every choice of the CODEC pipeline; the defaults are the paper's (module docstring).

    Attributes
    ----------
    source : {"contributions", "activations"}
        Decompose contributions, or pre-nonlinearity activations (for comparison).
    target : {"surprisal", "cell", "sum"}
        What the contributions explain: the population surprisal (one sample per frame), each
        cell separately (one sample per (frame, cell): per-cell loadings), or the summed rate.
    output : {"rate", "generator"}
        The model output the target is computed from: the rate (after the Softplus) or the
        generator signal (before it).
    method : {"integrated_gradients", "activation_x_gradient"}
        Attribution method.
    steps : int
        Integrated-gradient steps.
    rule : {"trapezoid", "left", "right"}
        Quadrature rule.
    sae : {"codec", "topk", "batchtopk", "relu"}
        The SAE kind (:func:`~retinacodec.codec.decompose.make_sae`).
    k : int
        Active latents per sample (TopK kinds only).
    expansion : float, optional
        Dictionary size / input dimension; None for each SAE's own default (CODEC 10, TopK 8,
        ReLU 8).
    fit_on : {"analysed", "train"}
        Train the SAEs on the analysed frames (the test set, as the paper) or on a seeded
        subset of ``n_fit_frames`` training-block frames.
    n_fit_frames : int
        Size of that subset.
    reference : {"train", "analysed"}
        Frames whose predicted rates give the surprisal's μ and Σ.
    n_reference_frames : int, optional
        A seeded subset of that many training frames (None: all of them).
    surprisal_ridge : float
        Σ + ridge · mean(diag Σ) · I is inverted (0: plain inverse).
    sae_options : dict
        Parameters of the SAE estimator (``n_init``, ``open_fraction``, ``n_steps`` ...);
        options a user passes override them one by one.
    """

    source: str = "contributions"
    target: str = "surprisal"
    output: str = "rate"
    method: str = "integrated_gradients"
    steps: int = 20
    rule: str = "trapezoid"
    sae: str = "codec"
    k: int = 3
    expansion: float | None = None
    fit_on: str = "analysed"
    n_fit_frames: int = 4000
    reference: str = "train"
    n_reference_frames: int | None = 10000
    surprisal_ridge: float = 0.0
    sae_options: dict = field(default_factory=dict)

    def as_attrs(self) -> dict[str, str | int | float]:
        """NetCDF-friendly attributes (None becomes the string ``"default"``; SAE options are flattened)."""
        attrs = {key: "default" if value is None else value for key, value in asdict(self).items()
                 if key != "sae_options"}
        attrs.update({f"sae_{key}": value for key, value in self.sae_options.items()})
        return attrs


#: Optimiser steps of the official retina SAE: 46 batches of 128 of its ~5,956 test frames × 800 epochs.
OFFICIAL_SAE_STEPS = 46 * 800
#: The preset :func:`~retinacodec.codec.decompose.decompose` starts from.
DEFAULT_PRESET = "codec"

#: The named presets. ``"paper"`` reproduces the published retina run parameter for parameter.
PRESETS: dict[str, CodecConfig] = {
    "codec": CodecConfig(target="cell", output="generator", sae="batchtopk", k=3, expansion=2.0, fit_on="train",
                         n_fit_frames=4000, sae_options={"n_init": 3}),
    "paper": CodecConfig(),
    "paper_open": CodecConfig(sae_options={"open_fraction": 0.05, "n_steps": OFFICIAL_SAE_STEPS}),
    "cells": CodecConfig(target="cell", output="generator", sae="topk", k=3, expansion=2.0, fit_on="train"),
    "local": CodecConfig(target="cell", output="generator", method="activation_x_gradient", sae="topk", k=4,
                         expansion=2.0, fit_on="train"),
}

_CHOICES = {
    "source": ("contributions", "activations"),
    "target": ("surprisal", "cell", "sum"),
    "output": ("rate", "generator"),
    "method": ("integrated_gradients", "activation_x_gradient"),
    "rule": ("trapezoid", "left", "right"),
    "sae": ("codec", "topk", "batchtopk", "relu"),
    "fit_on": ("analysed", "train"),
    "reference": ("train", "analysed"),
}


def resolve_config(preset: str, options: dict) -> tuple[CodecConfig, dict]:
    """A preset with options applied, and the options left over for the SAE.

    Parameters
    ----------
    preset : str
        A key of :data:`PRESETS`.
    options : dict
        Overrides of :class:`CodecConfig` fields; any other key is an SAE parameter.

    Returns
    -------
    config : CodecConfig
    sae_params : dict
        The options that are not pipeline fields.

    Raises
    ------
    ValueError
        On an unknown preset or an invalid choice.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    names = {f.name for f in fields(CodecConfig)}
    config = replace(PRESETS[preset], **{key: value for key, value in options.items()
                                         if key in names and key != "sae_options"})
    for key, allowed in _CHOICES.items():
        if getattr(config, key) not in allowed:
            raise ValueError(f"{key} must be one of {allowed}; got {getattr(config, key)!r}.")
    if config.steps < 1:
        raise ValueError(f"steps must be >= 1; got {config.steps}.")
    return config, {**config.sae_options, **{key: value for key, value in options.items() if key not in names}}
