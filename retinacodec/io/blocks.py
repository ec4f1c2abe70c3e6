"""Label stimulus frames train / test / other and by repeat, from an intervals table.

Conventions understood (column names are matched case-insensitively)
---------------------------------------------------------------------
* A *block* column (``block``, ``block_type``, ``block_name``, ``stimulus_block``,
  ``condition``) whose values say ``train`` / ``test`` (or synonyms such as
  ``training``, ``fit``, ``repeat``, ``validation``); other values give ``"other"``.
* A *stimulus-name* column (``stimulus_name``, ``stimulus``, ``stim_name``,
  ``stimulus_type``, ``name``), optionally with a *repeat* column (``repeat``,
  ``repeat_index``, ``repetition``, ``rep``) or a *trial* column (``trial``,
  ``trial_index``, ``trial_number``, ``trial_id``). The one stimulus shown in several
  intervals is the test block and every other labelled interval is train. When several
  stimuli are shown in several intervals -- a run/freeze design, where every trial
  shows fresh ("running") noise and then one "frozen" segment identical in every
  trial -- the test block is the stimulus whose frames are identical in all its
  intervals, interleaved with the training segments or not.
* A block column whose values are not train/test words is read as a stimulus-name column.
* ``test_block=VALUE`` overrides all of this: intervals whose label is ``VALUE`` are
  test, all other labelled intervals are train.

Frames whose onset lies in no interval are ``"other"``. Test intervals take their
repeat index from the repeat (or trial) column, or else are numbered ``0, 1, ...`` in
time order. A repeat column of -1 in every test interval marks unrepeated held-out chunks
(what :func:`retinacodec.write_nwb` writes for a test block without repeats): their frames
keep repeat -1.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from retinacodec.io.errors import RecordingError, RecordingWarning

__all__ = ["BLOCK_COLUMNS", "NAME_COLUMNS", "REPEAT_COLUMNS", "TRIAL_COLUMNS", "Labelling", "label_column",
           "label_frames"]

BLOCK_COLUMNS = ("block", "block_type", "block_name", "stimulus_block", "condition")
NAME_COLUMNS = ("stimulus_name", "stimulus", "stim_name", "stimulus_type", "name")
REPEAT_COLUMNS = ("repeat", "repeat_index", "repetition", "rep")
TRIAL_COLUMNS = ("trial", "trial_index", "trial_number", "trial_id", "trial_num")
_TRAIN = {"train", "training", "fit", "fitting"}
_TEST = {"test", "testing", "repeat", "repeats", "repeated", "validation", "held_out", "heldout"}


@dataclass
class Labelling:
    """How the rows of an intervals table were turned into blocks (what ``retinacodec info`` shows).

    Attributes
    ----------
    table : str
        The intervals table used.
    label_column, repeat_column : str or None
        The columns that gave the labels and the repeat indices.
    blocks : dict of str to str
        Each label in the label column and the block it became.
    identical : list of str
        Labels shown in several intervals that all show the same frames (a frozen /
        repeated stimulus); filled when the movie is given.
    rule : str
        One sentence saying which rule chose the test block.
    """

    table: str
    label_column: str | None = None
    repeat_column: str | None = None
    blocks: dict[str, str] = field(default_factory=dict)
    identical: list[str] = field(default_factory=list)
    rule: str = ""


def _find(columns: Mapping[str, np.ndarray], names: tuple[str, ...]) -> str | None:
    """The first column whose lower-cased name is in ``names``."""
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def label_column(columns: Mapping[str, np.ndarray], block_column: str | None = None) -> str | None:
    """The column that labels blocks: ``block_column``, else a block-like, else a name-like one."""
    if block_column is not None:
        return block_column if block_column in columns else None
    return _find(columns, BLOCK_COLUMNS) or _find(columns, NAME_COLUMNS)


def _as_str(values: np.ndarray) -> np.ndarray:
    """Column values as an array of str (bytes decoded)."""
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=str)


def _names(labels: list) -> str:
    """Labels as a plain comma-separated list for messages (no numpy reprs)."""
    return ", ".join(repr(str(v)) for v in labels)


def _row_frames(frame_times: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Indices of the frames whose onset lies in ``[start, stop)``."""
    return np.flatnonzero((frame_times >= start) & (frame_times < stop))


def _identical(movie: np.ndarray, segments: list[np.ndarray]) -> bool:
    """Whether every segment shows the same frames as the first (over their common length).

    Lengths may differ by a frame or two (interval bounds rounded differently); the common
    part must match to float32 precision.
    """
    n = min(s.size for s in segments)
    if n == 0 or max(s.size for s in segments) - n > max(2, n // 100):
        return False
    first = movie[segments[0][:n]]
    scale = max(float(np.abs(first).max()), 1e-12)
    return all(np.allclose(movie[s[:n]], first, rtol=0, atol=1e-5 * scale) for s in segments[1:])


def _row_labels(labels: np.ndarray, repeats: np.ndarray | None, block_like: bool, test_block: str | None,
                info: Labelling) -> np.ndarray:
    """``"train"`` / ``"test"`` / ``"other"`` for each interval; fills ``info.rule``."""
    table = info.table
    if test_block is not None:
        if test_block not in labels:
            raise RecordingError(
                f"test_block={test_block!r} is not a label in intervals table {table!r} "
                f"(labels: {_names(sorted(set(labels.tolist())))}); pass one of those."
            )
        info.rule = f"test block chosen by test_block={test_block!r}"
        return np.where(labels == test_block, "test", "train")
    if block_like:
        low = np.char.lower(labels)
        info.rule = "labels read as train/test words"
        return np.where(np.isin(low, list(_TRAIN)), "train", np.where(np.isin(low, list(_TEST)), "test", "other"))
    names = list(dict.fromkeys(labels.tolist()))
    if repeats is not None:
        repeated = [n for n in names if np.unique(repeats[labels == n]).size > 1]
    else:
        repeated = [n for n in names if np.count_nonzero(labels == n) > 1]
    if len(repeated) == 1 and (repeats is not None or repeated == info.identical):
        info.rule = f"{repeated[0]!r} is the only stimulus shown in several intervals"
        return np.where(labels == repeated[0], "test", "train")
    info.identical = [n for n in info.identical if n in repeated]
    if len(info.identical) == 1:
        n_rows = np.count_nonzero(labels == info.identical[0])
        info.rule = (f"{info.identical[0]!r} shows identical frames in all its {n_rows} intervals "
                     "(a frozen / repeated stimulus); the others are fresh")
        return np.where(labels == info.identical[0], "test", "train")
    if len(repeated) > 1:
        which = info.identical or repeated
        raise RecordingError(
            f"intervals table {table!r} has several repeated stimuli ({_names(which)}) and none is the only one "
            "with identical frames in every interval; pass test_block=NAME (--test-block NAME) to say which is "
            "the test block."
        )
    warnings.warn(
        f"intervals table {table!r} names no repeated (test) stimulus; all its intervals are "
        "labelled train. Pass test_block=NAME (--test-block NAME) to choose the test block.",
        RecordingWarning,
        stacklevel=5,
    )
    info.rule = "no repeated stimulus found: every labelled interval is train"
    return np.full(labels.size, "train")


def label_frames(
    frame_times: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    columns: Mapping[str, np.ndarray],
    *,
    movie: np.ndarray | None = None,
    test_block: str | None = None,
    block_column: str | None = None,
    repeat_column: str | None = None,
    table: str = "intervals",
) -> tuple[np.ndarray, np.ndarray, Labelling]:
    """Block label and repeat index of each frame.

    Parameters
    ----------
    frame_times : ndarray, shape (n_frames,)
        Frame onsets in seconds.
    start, stop : ndarray, shape (n_rows,)
        Interval bounds in seconds; a frame belongs to ``[start, stop)``.
    columns : mapping of str to ndarray, each shape (n_rows,)
        The other columns of the table.
    movie : ndarray, shape (n_frames, ny, nx), optional
        The stimulus frames, to recognise a stimulus repeated identically (run/freeze).
    test_block : str, optional
        Label (in the label column) of the test block.
    block_column, repeat_column : str, optional
        Column names to use instead of the recognised ones.
    table : str
        Table name, for messages.

    Returns
    -------
    block : ndarray of str, shape (n_frames,)
        ``"train"``, ``"test"`` or ``"other"``.
    repeat : ndarray of int64, shape (n_frames,)
        Repeat index for test frames, ``-1`` elsewhere.
    labelling : Labelling
        Which columns and rule were used, and the block of each label.
    """
    for name in (block_column, repeat_column):
        if name is not None and name not in columns:
            raise RecordingError(
                f"intervals table {table!r} has no column {name!r}; its columns are {_names(sorted(columns))}."
            )
    label_col = label_column(columns, block_column)
    if label_col is None:
        raise RecordingError(
            f"intervals table {table!r} has no block or stimulus-name column (columns: {_names(sorted(columns))}); "
            "pass block_column=NAME (--block-column NAME), or intervals=False (--no-intervals) to ignore the table."
        )
    repeat_col = repeat_column or _find(columns, REPEAT_COLUMNS) or _find(columns, TRIAL_COLUMNS)
    labels = _as_str(np.asarray(columns[label_col]))
    repeats = None if repeat_col is None else np.asarray(columns[repeat_col]).astype(np.int64)
    low = set(np.char.lower(labels).tolist())
    block_like = (label_col.lower() in BLOCK_COLUMNS or block_column is not None) and bool(low & (_TRAIN | _TEST))
    info = Labelling(table=table, label_column=label_col, repeat_column=repeat_col)
    if movie is not None:
        segments = [_row_frames(frame_times, a, b) for a, b in zip(start, stop, strict=True)]
        info.identical = [str(n) for n in dict.fromkeys(labels.tolist()) if np.count_nonzero(labels == n) > 1
                          and _identical(movie, [segments[r] for r in np.flatnonzero(labels == n)])]
    row_block = _row_labels(labels, repeats, block_like, test_block, info)
    info.blocks = {str(n): str(b) for n, b in dict(zip(labels.tolist(), row_block.tolist(), strict=True)).items()}
    order = np.argsort(start, kind="stable")
    row_repeat = np.full(labels.size, -1, dtype=np.int64)
    is_test = row_block == "test"
    if repeats is not None:
        row_repeat[is_test] = repeats[is_test]
    else:
        test_rows = order[is_test[order]]
        row_repeat[test_rows] = np.arange(test_rows.size)
    row_of_frame = np.full(frame_times.size, -1)
    for r in order:
        row_of_frame[(frame_times >= start[r]) & (frame_times < stop[r])] = r
    inside = row_of_frame >= 0
    block = np.where(inside, row_block[row_of_frame], "other")
    repeat = np.where(inside, row_repeat[row_of_frame], -1).astype(np.int64)
    test_repeats = repeat[block == "test"]
    if test_repeats.size and np.all(test_repeats < 0):
        info.rule += "; its intervals are unrepeated held-out chunks (repeat index -1 in every test interval)"
    elif np.any(test_repeats < 0):
        raise RecordingError(
            f"intervals table {table!r} gives some test intervals a negative repeat index and others not; "
            "pass repeat_column=NAME (--repeat-column NAME) naming a column of repeat indices >= 0."
        )
    if inside.any() and not np.any(block == "train") and not np.any(block == "test"):
        warnings.warn(
            f"no label in column {label_col!r} of intervals table {table!r} means train or test "
            f"(labels: {_names(sorted(set(labels.tolist())))}); every frame is 'other'. Pass test_block=NAME "
            "(--test-block NAME) to choose the test block.",
            RecordingWarning,
            stacklevel=4,
        )
    return block.astype(str), repeat, info
