"""Model checkpoints: everything needed to rebuild a fitted model from one file.

A checkpoint is a ``torch.save`` dict of plain types and tensors (loadable with
``weights_only=True``) holding the format version, the architecture config, the best
weights, the stimulus normalisation, the recording's provenance, and the state needed
to resume training. Files are written to a temporary name and renamed, so an
interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from retinacodec.atomic import atomic_path
from retinacodec.device import resolve_device
from retinacodec.model.bncnn import BNCNN, BNCNNConfig
from retinacodec.model.windows import Normalization

__all__ = ["FORMAT", "FORMAT_VERSION", "CheckpointError", "save_checkpoint", "read_checkpoint", "load_model"]

FORMAT = "retinacodec-bncnn"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or from an incompatible version."""


def save_checkpoint(
    path: str | os.PathLike,
    model: BNCNN,
    normalization: Normalization,
    *,
    metadata: dict | None = None,
    train_state: dict | None = None,
) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : path-like
        Destination (``.pt``).
    model : BNCNN
        The model whose weights are the checkpoint's weights.
    normalization : Normalization
        Stimulus statistics used to z-score inputs.
    metadata : dict, optional
        Provenance and fit information (plain types only).
    train_state : dict, optional
        Optimiser, scheduler and loop state for resuming training.

    Returns
    -------
    pathlib.Path
    """
    obj = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "normalization": {"mean": normalization.mean, "std": normalization.std},
        "metadata": metadata or {},
        "train_state": train_state,
    }
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read and check a checkpoint file.

    Raises
    ------
    CheckpointError
        If the file is missing, not a checkpoint, corrupt, or of another format version.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}; fit one with `retinacodec fit`.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise CheckpointError(
            f"{path} is not a readable retinacodec checkpoint ({type(exc).__name__}); "
            "it may be corrupt or truncated: fit the model again."
        ) from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a retinacodec model checkpoint.")
    if obj.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {obj.get('format_version')}, but this retinacodec "
            f"reads version {FORMAT_VERSION}; refit the model with this version."
        )
    return obj


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> BNCNN:
    """Rebuild a fitted model from its checkpoint alone.

    Parameters
    ----------
    path : path-like
        A checkpoint written by :func:`retinacodec.fit`.
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    BNCNN
        In eval mode, with ``normalization`` (:class:`Normalization`) and ``metadata``
        (provenance, frame rate, fit log) attributes.

    Examples
    --------
    >>> model = rc.load_model(rc.sample.sample_model_path())
    >>> model.config.n_cells, model.training
    (9, False)
    >>> model.metadata["session_id"] == rc.load_sample()[0].attrs["session_id"]
    True
    """
    obj = read_checkpoint(path)
    try:
        model = BNCNN(BNCNNConfig(**obj["config"]))
        model.load_state_dict(obj["state_dict"])
    except (TypeError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path} does not match the BNCNN architecture ({exc}); refit the model.") from exc
    model.normalization = Normalization(**obj["normalization"])
    model.metadata = dict(obj["metadata"])
    return model.to(resolve_device(device)).eval()
