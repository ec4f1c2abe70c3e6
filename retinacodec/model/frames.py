"""The frames an analysis uses when none are given: one rule for every command and function.

The contributions, CODEC modes, instantaneous receptive fields, evaluation and figures of a
recording are computed on its **held-out** frames, chosen by :func:`choose_frames`:

1. test repeat 0, when the recording has a repeated test block (the published protocol:
   frames of the first repeat with a full history inside it);
2. otherwise the frames of the test block, when it holds unrepeated chunks (every frame of
   the block with a full history inside its own chunk);
3. otherwise the model's held-out validation frames (whole chunks of time that training
   never saw; recorded in the checkpoint), when the model was fitted to this recording;
4. otherwise nothing is held out: a ``ValueError`` asks for ``frames=`` (``--frames``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from retinacodec.model.windows import valid_targets

__all__ = ["choose_frames", "default_frames", "heldout_frames", "training_frames"]


def heldout_frames(metadata: dict | None, recording: xr.Dataset, history: int) -> np.ndarray:
    """A model's held-out validation frames, when they are frames of ``recording``.

    Parameters
    ----------
    metadata : dict or None
        The model's ``metadata`` (``heldout_frames``, ``session_id``), from ``fit`` or ``load_model``.
    recording : xarray.Dataset
        A Recording.
    history : int
        Frames per window; frames without ``history - 1`` earlier frames are dropped.

    Returns
    -------
    ndarray of int, shape (n,)
        Increasing frame indices; empty when the model records none, was fitted to another
        session, or they lie outside the recording.
    """
    meta = metadata or {}
    frames = np.asarray(meta.get("heldout_frames", []), dtype=np.int64)
    same = meta.get("session_id", recording.attrs.get("session_id")) == recording.attrs.get("session_id")
    if frames.size == 0 or not same or frames.max() >= recording.sizes["frame"]:
        return np.array([], dtype=np.int64)
    return np.sort(frames[frames >= history - 1])


def choose_frames(recording: xr.Dataset, history: int, metadata: dict | None = None) -> tuple[np.ndarray, str]:
    """The held-out frames an analysis uses by default, and which rule chose them.

    Parameters
    ----------
    recording : xarray.Dataset
        A Recording.
    history : int
        Frames per model window: each chosen frame has ``history - 1`` earlier frames of the
        same block (and repeat or chunk), continuous in time.
    metadata : dict, optional
        The model's ``metadata``, for rule 3 (its held-out validation frames).

    Returns
    -------
    frames : ndarray of int, shape (n,)
        Increasing frame indices.
    rule : str
        What was chosen, for messages and attributes (e.g. ``"test repeat 0"``).

    Raises
    ------
    ValueError
        When no rule applies: no test block, and no held-out frames of this recording.
    """
    time, block, repeat = recording["time"].values, recording["block"].values, recording["repeat"].values
    test = block == "test"
    if np.any(repeat[test] >= 0):
        frames = valid_targets(time, test & (repeat == 0), history)
        if frames.size:
            return frames, "test repeat 0"
    unrepeated = test & (repeat < 0)
    if unrepeated.any():
        frames = valid_targets(time, unrepeated, history)
        if frames.size:
            return frames, "the test block (unrepeated chunks)"
    frames = heldout_frames(metadata, recording, history)
    if frames.size:
        return frames, "the model's held-out validation frames"
    raise ValueError(
        f"the recording has no test block with {history}-frame windows and no held-out frames of the model's fit; "
        "pass frames= (--frames START STOP), or label a test block (test_block= / --test-block)."
    )


def default_frames(recording: xr.Dataset, history: int, metadata: dict | None = None) -> np.ndarray:
    """The frames of :func:`choose_frames`, without the rule (the ``frames=None`` default everywhere)."""
    return choose_frames(recording, history, metadata)[0]


def training_frames(recording: xr.Dataset, history: int, metadata: dict | None = None) -> np.ndarray:
    """Training-block frames whose windows avoid the model's held-out frames.

    What a baseline (e.g. :func:`retinacodec.fit_ln`) fits on so that it is scored on the same
    unseen frames as the CNN, whichever rule of :func:`choose_frames` picked them.

    Parameters
    ----------
    recording, history, metadata
        As :func:`choose_frames` (``metadata`` gives the model's ``heldout_frames``).

    Returns
    -------
    ndarray of int, shape (n,)
        Train-block response frames with a full history, none of whose ``history`` window
        frames is a held-out frame.
    """
    train = valid_targets(recording["time"].values, recording["block"].values == "train", history)
    held = heldout_frames(metadata, recording, history)
    if held.size == 0:
        return train
    hit = np.zeros(recording.sizes["frame"] + 1, dtype=np.int64)
    hit[held] = 1
    csum = np.concatenate([[0], np.cumsum(hit)])
    touched = csum[train + 1] - csum[train - history + 1] > 0
    return train[~touched]
