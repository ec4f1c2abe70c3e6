"""Fitting a :class:`~retinacodec.model.bncnn.BNCNN` to a recording (METHODS.md §1).

Poisson negative log-likelihood on binned counts, Adam with L2 weight decay on the
convolution and readout weights (1e-3), an L1 penalty on the predicted rates (1e-4),
ReduceLROnPlateau and early stopping on the validation correlation. Validation targets are
whole contiguous chunks of the training block (:func:`retinacodec.model.windows.split_blocks`).
Each improvement is checkpointed atomically and training resumes from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from retinacodec.device import resolve_device
from retinacodec.model.bncnn import BNCNN, PUBLISHED_PRESETS, BNCNNConfig, SeparableConv2d, preset_config
from retinacodec.model.checkpoint import read_checkpoint, save_checkpoint
from retinacodec.model.metrics import pearson_per_cell
from retinacodec.model.windows import WindowedData, split_blocks
from retinacodec.recording import validate_recording
from retinacodec.scale.distributed import all_mean, any_true, distributed_model, process_group

__all__ = ["FitOptions", "batch_targets", "fit", "predict_targets", "seed_everything", "train_epoch"]


@dataclass
class FitOptions:
    """Training hyper-parameters (published defaults where METHODS.md gives them).

    Parameters
    ----------
    epochs : int
        Maximum passes over the training windows.
    batch_size : int
        Windows per gradient step.
    lr : float
        Adam learning rate.
    weight_decay : float
        L2 penalty on convolution and readout weights.
    l1_output : float
        L1 penalty on the predicted counts.
    validation_fraction : float
        Share of the training block held out, in contiguous chunks.
    n_chunks : int
        Number of chunks the training block is cut into for the split.
    patience : int
        Epochs without validation improvement before stopping.
    lr_patience : int
        Epochs without improvement before the learning rate is multiplied by ``lr_factor``.
    lr_factor : float
        Learning-rate multiplier on a plateau.
    max_minutes : float or None
        The wall-time budget of the whole call, from reading the recording to returning the
        model. Training stops early enough, checked after every batch, that the cut epoch's
        validation and checkpoint (as long as the slowest before it) still end within it; the best
        model so far is kept. The first epoch has no such timing and may overrun by its
        validation.
    ema_decay : float, None or "auto"
        A number in (0, 1) keeps an exponential moving average of the weights and BatchNorm
        statistics, updated after every step with this decay (0.99 averages over about the
        last 100 steps); validation, early stopping, the checkpoint and the returned model then
        use the average. None trains and returns the raw weights, as the published fits do.
        ``"auto"`` (the default) is 0.99 except for the published presets by name
        (``fit(rec, preset="default")``, ``"sample"``, ``"stacked"``: None, the published
        recipe), for fits of fewer than 500 steps (``epochs`` times the training batches: in an
        average over fewer, the first steps' weights keep a share above 0.99^500 < 1 %), and
        when resuming a checkpoint that kept no average. Why 0.99 is the default: median r
        with the true rate of ``fit(rec, seed=s, max_minutes=M)``, idle machine, 2 threads
        (benchmarks/README.md; the 50×50 recordings are issue 23's 30-min simulations):

        =========================================  ==============  ==============
        recording, budget                          ema_decay None  0.99
        =========================================  ==============  ==============
        sample (20×20), 2 min, seed 0              0.922           0.973
        sample (20×20), 2 min, seed 1              0.961           0.974
        50×50 white noise, 20 min, seed 0          0.851           0.956
        50×50 natural movie, 20 min, seed 0        0.874           0.957
        =========================================  ==============  ==============

        A fit of fewer steps than ``1 / (1 - ema_decay)`` warns.
    """

    epochs: int = 40
    batch_size: int = 512
    lr: float = 5e-3
    weight_decay: float = 1e-3
    l1_output: float = 1e-4
    validation_fraction: float = 0.1
    n_chunks: int = 20
    patience: int = 4
    lr_patience: int = 1
    lr_factor: float = 0.3
    max_minutes: float | None = None
    ema_decay: float | str | None = "auto"


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch (CPU and CUDA) and return a numpy Generator for the same seed."""
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Adam parameter groups: L2 on conv/linear weights (both factors of a separable one), none on biases, BatchNorm."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            is_weight = (name == "weight" and isinstance(module, nn.Conv2d | nn.Linear)) or (
                isinstance(module, SeparableConv2d) and name in ("temporal", "spatial"))
            (decay if is_weight else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def predict_targets(model: BNCNN, data: WindowedData, targets: np.ndarray, batch_size: int = 1024,
                    device: str | torch.device = "cpu") -> np.ndarray:
    """Predicted counts per frame for some target frames, in eval mode.

    Returns
    -------
    ndarray, shape (n_targets, n_cells)
        Expected spike counts per frame.
    """
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(targets), batch_size):
        x, _ = data.batch(targets[i : i + batch_size], device)
        out.append(model(x).cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.n_cells), dtype=np.float32)


def batch_targets(order: np.ndarray, batch_size: int, rank: int = 0, world_size: int = 1) -> list[np.ndarray]:
    """The target frames of each step of one process: a sampler over window indices.

    Global batch ``b`` is ``order[b * batch_size : (b + 1) * batch_size]`` (the last partial
    batch is dropped); process ``rank`` of ``world_size`` takes every ``world_size``-th of its
    targets from position ``rank``, so the processes together see exactly the batches one
    process would. The batches are views of ``order``: nothing is copied.

    Parameters
    ----------
    order : ndarray of int, shape (n,)
        Target frames, already shuffled (the same order in every process).
    batch_size : int
        Windows per global step; a multiple of ``world_size``.
    rank, world_size : int
        This process and the number of processes.

    Returns
    -------
    list of ndarray of int, each of shape (batch_size // world_size,)
    """
    if batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} is not a multiple of the {world_size} processes; "
                         "choose a batch size that splits evenly.")
    n_batches = max(1, len(order) // batch_size)
    return [order[b * batch_size:(b + 1) * batch_size][rank::world_size] for b in range(n_batches)]


def train_epoch(model: nn.Module, data: WindowedData, order: np.ndarray, optimizer: torch.optim.Optimizer,
                batch_size: int, l1_output: float, device: torch.device, deadline: float | None = None,
                rank: int = 0, world_size: int = 1, timings: dict[str, float] | None = None,
                report: Callable[[int, int], None] | None = None) -> float:
    """One pass over the training targets in the given order (the last partial batch is dropped).

    Parameters
    ----------
    model : BNCNN or DistributedDataParallel
        Trained in place.
    data : WindowedData
        Source of the windows.
    order : ndarray of int, shape (n,)
        Target frames, already shuffled.
    optimizer : torch.optim.Optimizer
        Over ``model``'s parameters.
    batch_size : int
        Windows per step.
    l1_output : float
        L1 penalty on the predicted counts.
    device : torch.device
        Where the model lives.
    deadline : float, optional
        A ``time.monotonic()`` value: the pass stops after the first batch that ends past it
        (in any process, when distributed).
    rank, world_size : int
        This process's share of each batch (:func:`~retinacodec.model.training.batch_targets`); the model is then a
        ``DistributedDataParallel``, which averages the gradients.
    timings : dict, optional
        Seconds spent are added to its ``"data"`` (cutting and moving the windows),
        ``"forward"`` (model and loss) and ``"backward"`` (gradients and the optimizer step)
        entries (on a GPU each is synchronised first, so they add up to the wall time).
    report : callable, optional
        Called after every batch with (batches done, batches in the epoch).

    Returns
    -------
    float
        Mean loss over the batches done (Poisson NLL + L1 term; this process's share).
    """
    model.train()
    total = torch.zeros((), device=device)
    done = 0
    timings = {} if timings is None else timings
    batches = batch_targets(order, batch_size, rank, world_size)
    clock = _Stopwatch(device, timings)
    for targets in batches:
        x, y = data.batch(targets, device)
        clock.lap("data")
        pred = model(x)
        loss = F.poisson_nll_loss(pred, y, log_input=False, full=False, eps=1e-6) + l1_output * pred.abs().mean()
        clock.lap("forward")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach()
        clock.lap("backward")
        done += 1
        if report is not None:
            report(done, len(batches))
        past = deadline is not None and time.monotonic() > deadline
        if any_true(past, device) if world_size > 1 else past:
            break
    return float(total) / done


class _Stopwatch:
    """Adds the seconds since the previous lap to ``timings[name]`` (synchronising a GPU first)."""

    def __init__(self, device: torch.device, timings: dict[str, float]) -> None:
        self.sync = torch.cuda.synchronize if device.type == "cuda" else None
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.sync is not None:
            self.sync()
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self.last
        self.last = now


def _within_epoch_log(epoch: int, epochs: int, every_s: float = 60.0) -> Callable[[int, int], None]:
    """A ``report`` for :func:`train_epoch` that prints a line on stderr at most every ``every_s`` seconds."""
    started = last = time.monotonic()

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s and done < total:
            last = now
            per_batch = (now - started) / done
            print(f"fit: epoch {epoch}/{epochs}  batch {done}/{total}  {per_batch:.2f} s/batch; this epoch's "
                  f"training ends in ~{_duration(per_batch * (total - done))}", file=sys.stderr, flush=True)

    return report


def _duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"`` or ``"2.1 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _time_left(log: list[dict], options: FitOptions, elapsed: float) -> str:
    """The log line's estimate of the time to finish: the epochs left at the last epoch's pace, or the time budget."""
    epochs_left = options.epochs - log[-1]["epoch"]
    if epochs_left <= 0:
        return "done"
    pace = log[-1]["seconds"] - (log[-2]["seconds"] if len(log) > 1 else 0.0)
    left = epochs_left * pace
    if options.max_minutes is not None:
        left = min(left, 60 * options.max_minutes - elapsed)
        if left <= 0:
            return "the time budget is spent"
    return f"at most ~{_duration(left)} left (early stopping may end it sooner)"


def _validation_score(model: BNCNN, data: WindowedData, val: np.ndarray, device: torch.device) -> float:
    """Mean over cells of r(predicted counts, recorded counts) on the validation targets."""
    pred = predict_targets(model, data, val, device=device)
    r = pearson_per_cell(pred, data.spikes[torch.as_tensor(val, device=data.spikes.device)].cpu().numpy())
    return float(np.nanmean(r)) if np.isfinite(r).any() else 0.0


def _warn_silent_cells(recording: xr.Dataset) -> list[int]:
    """Warn about cells with no spikes in the training block; return their ids."""
    train = recording["block"].values == "train"
    counts = recording["spikes"].values[train].sum(axis=0)
    silent = [int(c) for c, n in zip(recording["cell"].values, counts, strict=True) if n == 0]
    if silent:
        warnings.warn(
            f"{len(silent)} cell(s) never spike in the training block (ids {silent}); they are kept, "
            "but their fit and evaluation are meaningless.",
            stacklevel=3,
        )
    return silent


def _weight_average(model: BNCNN, optimizer: torch.optim.Optimizer,
                    decay: float | None) -> torch.optim.swa_utils.AveragedModel | None:
    """An exponential moving average of ``model``'s weights and buffers, updated after every optimizer step.

    Returns None when ``decay`` is None. The average is a copy of ``model`` made now, before
    any distributed wrapping, so its BatchNorms stay ordinary ones.
    """
    if decay is None:
        return None
    average = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True)
    optimizer.register_step_post_hook(lambda *_: average.update_parameters(model))
    return average


AUTO_EMA_MIN_STEPS = 500
"""The fewest optimiser steps a fit can take for ``ema_decay="auto"`` to keep a weight average."""


def _resolve_ema(decay: float | str | None, preset: str, config_given: bool, n_steps: int,
                 resumed: dict | None) -> float | None:
    """The weight-average decay a fit uses: ``decay`` itself unless it is ``"auto"`` (see :class:`FitOptions`).

    ``n_steps`` is the most optimiser steps the fit can take; ``resumed`` the train state of a
    checkpoint being resumed (None for a new fit).
    """
    if decay != "auto":
        return decay
    published = preset in PUBLISHED_PRESETS and not config_given
    without_average = resumed is not None and "average" not in resumed
    return None if published or without_average or n_steps < AUTO_EMA_MIN_STEPS else 0.99


def _check_resumable(saved: dict, config: BNCNNConfig, recording: xr.Dataset, path: str | os.PathLike) -> None:
    """Raise a ValueError when a checkpoint is not an unfinished fit of this architecture on this recording."""
    meta = saved.get("metadata", {})
    cells = [int(c) for c in recording["cell"].values]
    same_recording = meta.get("session_id", recording.attrs.get("session_id")) == recording.attrs.get("session_id")
    saved_config = BNCNNConfig(**saved["config"]).to_dict() if isinstance(saved.get("config"), dict) else None
    if saved_config != config.to_dict() or meta.get("cell_ids", cells) != cells or not same_recording:
        raise ValueError(
            f"cannot resume from {path}: it holds a fit of another architecture or recording "
            f"(session {meta.get('session_id', '?')!r}, {len(meta.get('cell_ids', []))} cells, "
            f"input {saved.get('config', {}).get('input_size')}); drop resume (--resume) to start a new fit, "
            "or choose another output file."
        )


def fit(
    recording: xr.Dataset,
    *,
    preset: str = "auto",
    config: BNCNNConfig | None = None,
    options: FitOptions | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool | str | None = None,
    distributed: bool = False,
    on_epoch: Callable[[BNCNN, dict], None] | None = None,
    **option_overrides,
) -> BNCNN:
    """Fit a BNCNN to a recording's training block.

    Parameters
    ----------
    recording : xarray.Dataset
        A Recording with a ``train`` block.
    preset : str
        Architecture preset when ``config`` is None: ``"auto"`` (kernel sizes chosen from
        the stimulus size by :func:`retinacodec.model.bncnn.auto_kernel_sizes`; full field gives
        a temporal-only model) or one of :data:`retinacodec.model.bncnn.PRESETS`.
    config : BNCNNConfig, optional
        Full architecture; overrides ``preset``.
    options : FitOptions, optional
        Training hyper-parameters; keyword arguments (``epochs=``, ``lr=`` ...) override
        single fields.
    seed : int
        Seeds initialisation, noise, batching and the validation split.
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` ...
    checkpoint : path-like, optional
        Written atomically at every validation improvement and every epoch (for resuming).
    resume : bool
        Continue from ``checkpoint`` if it holds an unfinished run of the same architecture
        on the same recording.
    progress : bool or "log", optional
        ``True``: a progress bar; ``"log"``: one line per epoch on stderr (for logs and
        pipes); ``False``: nothing. Default: a bar on a terminal, else nothing. When
        distributed, only rank 0 shows progress.
    distributed : bool
        Train one model with all the processes ``torchrun`` started (gloo on the CPU, nccl with
        one GPU per process; :mod:`retinacodec.scale.distributed`): each global batch of
        ``batch_size`` windows is split between the processes (:func:`~retinacodec.model.training.batch_targets`),
        gradients are averaged and BatchNorm uses the global batch's statistics, so the fit
        equals a one-process fit up to float rounding (the Gaussian noise aside: each process
        draws its own). Every process validates on all held-out frames; rank 0 alone writes
        the checkpoint; every process returns the same model.
    on_epoch : callable, optional
        Called by rank 0 after each epoch's validation as ``on_epoch(model, entry)``: ``model``
        the weights just validated (the weight average with ``ema_decay``; in training mode;
        do not modify them) and ``entry`` that epoch's fit-log entry (epoch, loss, val_r, lr,
        seconds, timings) with ``improved`` (True when these weights become the kept model).
        For tracking a metric of your own during a fit; its time counts against ``max_minutes``.

    Returns
    -------
    BNCNN
        The best model (highest validation correlation), in eval mode, with
        ``normalization`` and ``metadata`` (provenance, preprocessing, fit log, held-out
        frames).

    Raises
    ------
    ValueError
        If ``epochs < 1``, the architecture does not fit the recording, the training block
        is too short, or ``resume`` finds a checkpoint of another architecture or recording.

    Examples
    --------
    A short fit of a short simulated recording (a real fit runs until early stopping):

    >>> rec, truth = rc.simulate_retina(seed=0, train_seconds=20, test_seconds=2, n_repeats=2)
    >>> model = rc.fit(rec, preset="sample", epochs=1, progress=False)
    >>> model.config.n_cells, len(model.metadata["fit_log"])
    (9, 1)
    """
    called = time.monotonic()
    validate_recording(recording)
    options = dataclasses.replace(options or FitOptions())  # a copy: the caller's options stay as given
    for key, value in option_overrides.items():
        if not hasattr(options, key):
            raise TypeError(f"fit() got an unknown option {key!r}.")
        setattr(options, key, value)
    if options.epochs < 1:
        raise ValueError(f"epochs must be >= 1; got {options.epochs}.")
    decay = options.ema_decay
    if decay not in ("auto", None) and not (isinstance(decay, (int, float)) and 0.0 < decay < 1.0):
        raise ValueError(f"ema_decay must lie between 0 and 1 (e.g. 0.99), be None or 'auto'; got {decay!r}.")
    device = resolve_device(device)
    group = process_group(device) if distributed else None
    if group is not None:
        device = group.device
    rank, world_size = (group.rank, group.world_size) if group is not None else (0, 1)
    rng = seed_everything(seed)
    config_given = config is not None
    if config is None:
        config = preset_config(preset, n_cells=recording.sizes["cell"],
                               input_size=(recording.sizes["y"], recording.sizes["x"]))
    if config.input_size != (recording.sizes["y"], recording.sizes["x"]) or config.n_cells != recording.sizes["cell"]:
        raise ValueError(
            f"the model expects {config.n_cells} cells of {config.input_size} pixels but the recording "
            f"has {recording.sizes['cell']} cells of {(recording.sizes['y'], recording.sizes['x'])} pixels."
        )
    silent = _warn_silent_cells(recording)
    data = WindowedData(recording, config.history).to(device)
    targets = data.targets("train")
    if targets.size < 10:
        raise ValueError(
            f"the training block has only {targets.size} windows of {config.history} frames; "
            "a fit needs a longer training block."
        )
    train_t, val_t = split_blocks(targets, options.validation_fraction, options.n_chunks, config.history, seed)
    saved = read_checkpoint(checkpoint) if resume and checkpoint is not None and Path(checkpoint).exists() else None
    if saved is not None:
        _check_resumable(saved, config, recording, checkpoint)
    options.ema_decay = _resolve_ema(options.ema_decay, preset, config_given,
                                     options.epochs * math.ceil(train_t.size / options.batch_size),
                                     None if saved is None else saved.get("train_state") or {})

    model = BNCNN(config).to(device)
    optimizer = torch.optim.Adam(_weight_decay_groups(model, options.weight_decay), lr=options.lr)
    average = _weight_average(model, optimizer, options.ema_decay)
    validated = model if average is None else average.module  # the weights that are scored, kept and returned
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=options.lr_factor, patience=options.lr_patience
    )
    state = {"epoch": 0, "best_score": -math.inf, "bad_epochs": 0, "log": [], "best_state": None}
    if saved is not None:
        ts = saved.get("train_state")
        if ts is not None:
            model.load_state_dict(ts["model"])
            optimizer.load_state_dict(ts["optimizer"])
            if average is not None:
                if "average" not in ts:
                    raise ValueError(f"cannot resume from {checkpoint} with ema_decay: its fit kept no weight "
                                     "average; resume without ema_decay, or start a new fit.")
                average.load_state_dict(ts["average"])
            scheduler.load_state_dict(ts["scheduler"])
            torch.set_rng_state(ts["torch_rng"])
            rng.bit_generator.state = ts["numpy_rng"]
            state.update(epoch=ts["epoch"], best_score=ts["best_score"], bad_epochs=ts["bad_epochs"],
                         log=list(ts["log"]), best_state=saved["state_dict"])
    net = distributed_model(model, group) if group is not None else model

    metadata = {
        "source_file": recording.attrs.get("source_file", ""),
        "session_id": recording.attrs.get("session_id", ""),
        "stimulus_name": recording.attrs.get("stimulus_name", ""),
        "frame_rate_hz": float(recording.attrs["frame_rate_hz"]),
        "pixel_size_um": float(recording.attrs["pixel_size_um"]),
        "preprocessing": str(recording.attrs.get("preprocessing", "")),
        "cell_ids": [int(c) for c in recording["cell"].values],
        "silent_cells": silent,
        "heldout_frames": [int(v) for v in val_t],
        "seed": int(seed),
        "world_size": world_size,
        "options": dict(vars(options)),
    }
    start = time.monotonic()
    deadline = None if options.max_minutes is None else called + 60 * options.max_minutes
    after_training = 0.0  # seconds of an epoch's validation and checkpoint, kept free before the deadline
    bar = tqdm(total=options.epochs, initial=state["epoch"], desc="fit", unit="epoch",
               disable=(progress is not True or rank > 0) if progress is not None else (None if rank == 0 else True))
    while state["epoch"] < options.epochs and state["bad_epochs"] < options.patience:
        if group is not None:  # each process its own Gaussian noise, reproducible on resume
            torch.manual_seed(int(np.random.SeedSequence([seed, state["epoch"], rank]).generate_state(1)[0]))
        timings: dict[str, float] = {}
        report = _within_epoch_log(state["epoch"] + 1, options.epochs) if progress == "log" and rank == 0 else None
        mean_loss = train_epoch(net, data, rng.permutation(train_t), optimizer, options.batch_size,
                                options.l1_output, device, None if deadline is None else deadline - after_training,
                                rank, world_size, timings, report)
        trained = time.monotonic()
        mean_loss = all_mean(mean_loss, device) if group is not None else mean_loss
        clock = _Stopwatch(device, timings)
        score = _validation_score(validated, data, val_t, device)
        clock.lap("validation")
        scheduler.step(score)
        state["epoch"] += 1
        improved = score > state["best_score"]
        if improved:
            state.update(best_score=score, bad_epochs=0,
                         best_state={k: v.detach().cpu().clone() for k, v in validated.state_dict().items()})
        else:
            state["bad_epochs"] += 1
        elapsed = time.monotonic() - start
        state["log"].append({"epoch": state["epoch"], "loss": mean_loss, "val_r": score,
                             "lr": optimizer.param_groups[0]["lr"], "seconds": elapsed,
                             "timings": {k: round(v, 3) for k, v in timings.items()}})
        if on_epoch is not None and rank == 0:
            mode = validated.training
            on_epoch(validated, {**state["log"][-1], "improved": improved})
            validated.train(mode)
        bar.set_postfix(loss=f"{mean_loss:.4f}", val_r=f"{score:.3f}", best=f"{state['best_score']:.3f}")
        bar.update(1)
        if progress == "log" and rank == 0:
            parts = ", ".join(f"{k} {timings.get(k, 0.0):.0f} s" for k in ("data", "forward", "backward", "validation"))
            print(f"fit: epoch {state['epoch']}/{options.epochs}  loss {mean_loss:.4f}  validation r {score:.3f}  "
                  f"best {state['best_score']:.3f}  ({parts})  {elapsed:.0f} s; "
                  f"{_time_left(state['log'], options, elapsed)}", file=sys.stderr, flush=True)
        if checkpoint is not None and rank == 0:
            best = BNCNN(config)
            best.load_state_dict(state["best_state"])
            train_state = {
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "numpy_rng": rng.bit_generator.state,
                "epoch": state["epoch"],
                "best_score": state["best_score"],
                "bad_epochs": state["bad_epochs"],
                "log": state["log"],
            }
            if average is not None:
                train_state["average"] = average.state_dict()
            save_checkpoint(checkpoint, best, data.normalization,
                            metadata={**metadata, "fit_log": state["log"]}, train_state=train_state)
        after_training = max(after_training, time.monotonic() - trained)  # the slowest so far: a margin
        spent = deadline is not None and time.monotonic() + after_training > deadline
        if any_true(spent, device) if group is not None else spent:  # every process stops at the same epoch
            break
    bar.close()
    if average is not None and rank == 0 and int(average.n_averaged) < 1.0 / (1.0 - options.ema_decay):
        warnings.warn(
            f"the weight average saw only {int(average.n_averaged)} steps, fewer than 1 / (1 - ema_decay) = "
            f"{1.0 / (1.0 - options.ema_decay):.0f}: it still carries much of the initial weights. Fit for longer "
            "or use a smaller ema_decay (or none).", stacklevel=2)
    if group is not None:  # a plain BNCNN again, without the global BatchNorm
        current = model.state_dict()
        model = BNCNN(config).to(device)
        model.load_state_dict(current)
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    model.normalization = data.normalization
    model.metadata = {**metadata, "fit_log": state["log"]}
    return model.eval()
