"""Import a BNCNN trained with torch-deep-retina as a :class:`~retinacodec.model.bncnn.BNCNN`.

torch-deep-retina saves a checkpoint as a ``torch.save`` dict with ``model_type``
(``"BNCNN"``), ``model_state_dict``, the constructor arguments in ``model_hyps`` (or
``hyps``) and the stimulus z-scoring statistics in ``norm_stats``. Its BNCNN is one
``nn.Sequential`` named ``sequential``::

    0  Conv2d(history → chans[0], ksizes[0])      → our layer1.conv
    2  BatchNorm1d(chans[0]·h1·w1, eps=1e-3)       → layer1.bn (UnitBatchNorm)
    3  GaussianNoise, 4 ReLU, 5 Reshape
    6  Conv2d(chans[0] → chans[1], ksizes[1])     → layer2.conv
    8  BatchNorm1d(chans[1]·h2·w2, eps=1e-3)       → layer2.bn
    9  GaussianNoise, 10 ReLU (1, 7: Flatten)
    11 Linear(chans[1]·h2·w2 → n_units)           → readout.linear (bias zero when absent)
    12 BatchNorm1d(n_units, eps=1e-3)              → readout.bn
    13 Softplus

so the imported model is ``BNCNN`` with ``batchnorm="unit"`` and gives the same outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from retinacodec.device import resolve_device
from retinacodec.model.bncnn import BNCNN, BNCNNConfig
from retinacodec.model.checkpoint import CheckpointError
from retinacodec.model.windows import Normalization

__all__ = ["TDR_MODULES", "load_tdr_model", "tdr_config", "tdr_state_dict"]

TDR_MODULES = {
    "sequential.0": "layer1.conv",
    "sequential.2": "layer1.bn",
    "sequential.6": "layer2.conv",
    "sequential.8": "layer2.bn",
    "sequential.11": "readout.linear",
    "sequential.12": "readout.bn",
}
# numpy objects torch-deep-retina leaves in checkpoints (norm_stats are numpy scalars)
_NUMPY_GLOBALS = [np._core.multiarray.scalar, np.dtype, type(np.dtype(np.float32)), type(np.dtype(np.float64))]


def _read(path: Path) -> dict:
    """The checkpoint dict, loaded without running arbitrary pickled code."""
    if not path.is_file():
        raise CheckpointError(f"no torch-deep-retina checkpoint at {path}.")
    try:
        with torch.serialization.safe_globals(_NUMPY_GLOBALS):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable or unsafe files
        raise CheckpointError(
            f"{path} is not a readable torch-deep-retina checkpoint ({type(exc).__name__}: {str(exc)[:200]})."
        ) from exc
    if not isinstance(obj, dict) or "model_state_dict" not in obj:
        raise CheckpointError(f"{path} has no model_state_dict; it is not a torch-deep-retina checkpoint.")
    if obj.get("model_type", "BNCNN") != "BNCNN":
        raise CheckpointError(f"{path} holds a torch-deep-retina {obj['model_type']!r}; only BNCNN models import.")
    return obj


def tdr_config(checkpoint: dict) -> BNCNNConfig:
    """The :class:`BNCNNConfig` of a torch-deep-retina BNCNN checkpoint.

    Parameters
    ----------
    checkpoint : dict
        The loaded checkpoint (``model_state_dict`` and ``model_hyps`` / ``hyps``).
        Without hyperparameters the shapes are read from the weights (square maps assumed).

    Returns
    -------
    BNCNNConfig
        ``batchnorm="unit"``, history, input size, channels, kernels, noise and BatchNorm
        momentum as the checkpoint's.
    """
    sd = _strip(checkpoint["model_state_dict"])
    hyps = dict(checkpoint.get("model_hyps") or checkpoint.get("hyps") or {})
    if not hyps.get("softplus", True) or hyps.get("inference_exp", False):
        raise CheckpointError("the checkpoint's BNCNN has an exponential output; only Softplus BNCNNs import.")
    try:
        w1, w2, lin = sd["sequential.0.weight"], sd["sequential.6.weight"], sd["sequential.11.weight"]
    except KeyError as exc:
        raise CheckpointError(f"the state dict lacks {exc}; it is not a torch-deep-retina BNCNN.") from exc
    if "img_shape" in hyps:
        history, ny, nx = (int(v) for v in hyps["img_shape"])
    else:
        h1 = int(round(np.sqrt(sd["sequential.2.weight"].numel() / w1.shape[0])))
        history, ny, nx = w1.shape[1], h1 + w1.shape[-1] - 1, h1 + w1.shape[-1] - 1
    return BNCNNConfig(
        n_cells=int(lin.shape[0]), history=int(history), input_size=(ny, nx),
        channels=(int(w1.shape[0]), int(w2.shape[0])), kernel_sizes=(int(w1.shape[-1]), int(w2.shape[-1])),
        noise_std=float(hyps.get("noise", 0.05)), batchnorm_momentum=float(hyps.get("bn_moment", 0.01)),
        batchnorm="unit",
    )


def tdr_state_dict(state_dict: dict[str, torch.Tensor], model: BNCNN) -> dict[str, torch.Tensor]:
    """Map torch-deep-retina BNCNN state-dict keys onto ours.

    Parameters
    ----------
    state_dict : dict
        torch-deep-retina's ``model_state_dict`` (``sequential.<i>.<name>``; a
        ``module.`` prefix from ``DataParallel`` is dropped).
    model : BNCNN
        The target model (``batchnorm="unit"``), which supplies zero biases for layers
        saved without one.

    Returns
    -------
    dict
        A state dict that ``model.load_state_dict`` accepts (strict).
    """
    sd = _strip(state_dict)
    out = {}
    for key, value in sd.items():
        prefix, _, name = key.rpartition(".")
        if prefix not in TDR_MODULES:
            raise CheckpointError(f"unexpected torch-deep-retina parameter {key!r}; only BNCNN checkpoints import.")
        out[f"{TDR_MODULES[prefix]}.{name}"] = value
    for key, value in model.state_dict().items():
        if key.endswith(".bias") and key not in out:
            out[key] = torch.zeros_like(value)  # bias=False / linear_bias=None in torch-deep-retina
    return out


def load_tdr_model(
    path: str | os.PathLike,
    *,
    normalization: tuple[float, float] | None = None,
    device: str | torch.device = "cpu",
) -> BNCNN:
    """Load a torch-deep-retina BNCNN checkpoint as a :class:`BNCNN`.

    Parameters
    ----------
    path : path-like
        The ``.pt`` / ``.pth`` file torch-deep-retina saved.
    normalization : (mean, std), optional
        Stimulus z-scoring statistics, in the units of the stimulus file; by default the
        checkpoint's ``norm_stats``.
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    BNCNN
        In eval mode, ``config.batchnorm == "unit"``, with ``normalization`` and
        ``metadata`` (``source_format``, ``source_file``, the original hyperparameters
        that are plain numbers or strings) attributes, like :func:`retinacodec.load_model`.

    Raises
    ------
    CheckpointError
        Not a torch-deep-retina BNCNN checkpoint, or no normalisation statistics.

    Examples
    --------
    A checkpoint as torch-deep-retina writes it (random weights here, for 40 frames of 20 × 20 pixels
    and 2 cells):

    >>> import torch
    >>> def bn(n):
    ...     return {"weight": torch.ones(n), "bias": torch.zeros(n), "running_mean": torch.zeros(n),
    ...             "running_var": torch.ones(n), "num_batches_tracked": torch.tensor(1)}
    >>> sd = {"sequential.0.weight": 0.01 * torch.randn(8, 40, 9, 9), "sequential.0.bias": torch.zeros(8),
    ...       "sequential.6.weight": 0.1 * torch.randn(8, 8, 7, 7), "sequential.6.bias": torch.zeros(8),
    ...       "sequential.11.weight": 0.01 * torch.randn(2, 8 * 6 * 6)}
    >>> for i, n in ((2, 8 * 12 * 12), (8, 8 * 6 * 6), (12, 2)):
    ...     sd.update({f"sequential.{i}.{k}": v for k, v in bn(n).items()})
    >>> torch.save({"model_type": "BNCNN", "model_state_dict": sd,
    ...             "model_hyps": {"n_units": 2, "chans": [8, 8], "img_shape": (40, 20, 20), "ksizes": [9, 7],
    ...                            "noise": 0.05, "bn_moment": 0.01, "linear_bias": None, "softplus": True},
    ...             "norm_stats": {"mean": 127.5, "std": 40.0}}, "tdr.pt")
    >>> model = rc.model.load_tdr_model("tdr.pt")
    >>> model.config.kernel_sizes, model.config.batchnorm
    ((9, 7), 'unit')
    >>> model(torch.zeros(1, 40, 20, 20)).shape
    torch.Size([1, 2])
    """
    path = Path(path)
    obj = _read(path)
    config = tdr_config(obj)
    model = BNCNN(config)
    try:
        model.load_state_dict(tdr_state_dict(obj["model_state_dict"], model))
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not match a torch-deep-retina BNCNN of {config} ({exc}).") from exc
    model.normalization = Normalization(*_norm_stats(obj, normalization, path))
    hyps = dict(obj.get("model_hyps") or obj.get("hyps") or {})
    model.metadata = {
        "source_format": "torch-deep-retina",
        "source_file": str(path),
        "tdr_hyps": {k: v for k, v in hyps.items() if isinstance(v, int | float | str | bool)},
    }
    return model.to(resolve_device(device)).eval()


def _norm_stats(obj: dict, given: tuple[float, float] | None, path: Path) -> tuple[float, float]:
    """(mean, std) from ``given``, else the checkpoint's ``norm_stats`` (a dict or a pair)."""
    stats = given if given is not None else obj.get("norm_stats")
    if stats is None:
        raise CheckpointError(
            f"{path} has no norm_stats; pass normalization=(mean, std) of the stimulus the model was trained on."
        )
    mean, std = (stats["mean"], stats["std"]) if isinstance(stats, dict) else stats
    return float(np.asarray(mean)), float(np.asarray(std))


def _strip(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict without a ``module.`` (DataParallel) prefix."""
    return {k.removeprefix("module."): v for k, v in state_dict.items()}
