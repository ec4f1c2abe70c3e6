"""The ``retinacodec`` command line. Orchestrates the Python API; imported by nothing.

Every subcommand has ``--help``. Errors a user can cause print one line on stderr and exit
with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from retinacodec.codec.presets import DEFAULT_PRESET as DEFAULT_CODEC_PRESET
from retinacodec.codec.presets import PRESETS as CODEC_PRESETS

__all__ = ["main"]

#: ``decompose`` flags passed on as keyword options when given.
DECOMPOSE_OPTIONS = ("source", "target", "output", "method", "steps", "rule", "sae", "k", "fit_on", "n_fit_frames",
                     "reference", "n_reference_frames", "surprisal_ridge", "n_init", "max_epochs", "lr",
                     "open_fraction", "n_steps", "threshold")


def _fmt_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"retinacodec: warning: {message}\n"


class _RecordingArg(str):
    """The RECORDING argument of a command, carrying the reader flags given with it.

    ``options`` are the :func:`retinacodec.io.read_nwb` keyword arguments from the reader
    flags; ``model`` is the checkpoint of commands that also take a MODEL: its recorded
    preprocessing is the default, and the recording must fit it.
    """

    options: dict
    model: str | None

    @classmethod
    def of(cls, args: argparse.Namespace) -> _RecordingArg:
        """The recording argument of parsed ``args`` with its reader options."""
        out = cls(args.recording)
        out.options = {
            "intervals": False if args.no_intervals else args.intervals,
            "test_block": args.test_block, "block_column": args.block_column, "repeat_column": args.repeat_column,
            "pixel_size_um": args.pixel_size_um, "stimulus_axes": args.stimulus_axes,
            "crop": args.crop, "downsample": args.downsample, "bin_ms": args.bin_ms,
        }
        out.model = getattr(args, "model", None)
        return out


def _read(path: str, stimulus: str | None = None):  # noqa: ANN202
    """Read RECORDING with its reader flags; with a MODEL, as the model was fitted and checked against it."""
    from retinacodec.io import read_nwb

    options = dict(getattr(path, "options", {}))
    model = _load(path.model) if getattr(path, "model", None) else None
    reshaping = ("crop", "downsample", "bin_ms")
    if model is not None and not any(options.get(k) for k in reshaping):
        from retinacodec.io.resample import Preprocessing

        options.update(Preprocessing.from_json(model.metadata.get("preprocessing")))
    rec = read_nwb(str(path), stimulus=stimulus, **options)
    if model is not None:
        from retinacodec.model.evaluation import check_compatible, check_provenance

        check_compatible(model, rec)
        check_provenance(model, rec)
    return rec


def _load(path: str, device: str = "cpu"):  # noqa: ANN202
    """A checkpoint's model; says so when MODEL is a recording (swapped arguments)."""
    import h5py

    from retinacodec.model.checkpoint import load_model

    if Path(path).is_file() and h5py.is_hdf5(path):
        raise ValueError(
            f"{path} is an HDF5 file (an NWB recording or a NetCDF result), not a model checkpoint: are the arguments "
            "swapped? "
            "Give the model first, then the recording: retinacodec COMMAND MODEL.pt RECORDING.nwb"
        )
    return load_model(path, device=device)


def _frames(args: argparse.Namespace, model, rec) -> np.ndarray:  # noqa: ANN001
    """Response frames of --frames START STOP, else the shared default (printed with its rule)."""
    from retinacodec.model.frames import choose_frames

    if args.frames is not None:
        start, stop = args.frames
        if not 0 <= start < stop:
            raise ValueError(f"--frames START STOP needs 0 <= START < STOP; got {start} {stop}.")
        return np.arange(start, stop)
    frames, rule = choose_frames(rec, model.config.history, getattr(model, "metadata", None))
    print(f"frames: {rule}, {frames.size} frames ({frames[0]}..{frames[-1]}); change with --frames START STOP")
    return frames


def _truth_for(nwb: Path, rec, truth: str | None):  # noqa: ANN001, ANN202
    """The simulator's truth: ``truth`` if given, else ``<stem>_truth.nc`` beside the NWB file, else None.

    A truth found beside the file is not used for a reshaped reading (``--crop``, ``--bin-ms`` ...),
    whose frames are not the simulator's.
    """
    from retinacodec.sim.simulate import load_truth

    path = Path(truth) if truth else nwb.with_name(f"{nwb.stem}_truth.nc")
    if not truth and rec.attrs.get("preprocessing"):
        return None
    return load_truth(path, rec) if truth or path.exists() else None


def summarize(rec, series: list[str], labelling=None, units_columns: dict | None = None) -> dict:  # noqa: ANN001
    """A JSON-ready summary of a Recording (what ``info`` prints).

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording.
    series : list of str
        Names of the stimulus series in the file it came from.
    labelling : retinacodec.io.blocks.Labelling, optional
        How the reader labelled the blocks (from :func:`retinacodec.io.inspect_nwb`).
    units_columns : dict, optional
        The Units table's columns under their names in the file (:func:`retinacodec.io.unit_columns`),
        array columns included; default: the Recording's per-cell coordinates.
    """
    fps = float(rec.attrs["frame_rate_hz"])
    rep = rec["repeat"].values
    blocks = {b: int((rec["block"].values == b).sum()) for b in np.unique(rec["block"].values)}
    rates = rec["spikes"].values.mean(0) * fps
    repeat_ids = np.unique(rep[rep >= 0])
    lengths = [int((rep == r).sum()) for r in repeat_ids]
    from retinacodec.io.units import coord_name

    columns = dict(units_columns or {})
    covered = {coord_name(c) for c in columns}  # the electrode's id and position come from elsewhere
    for name in rec.coords:
        if rec[name].dims == ("cell",) and name not in ("cell", *covered):
            values, counts = np.unique(rec[name].values.astype(str), return_counts=True)
            columns[name] = ({str(v): int(c) for v, c in zip(values, counts, strict=True)} if values.size <= 12
                             else f"{values.size} distinct values")
    return {
        "source_file": rec.attrs.get("source_file", ""),
        "session_id": rec.attrs.get("session_id", ""),
        "stimulus": rec.attrs.get("stimulus_name", ""),
        "stimulus_series": series,
        "cells": int(rec.sizes["cell"]),
        "frames": int(rec.sizes["frame"]),
        "frame_size_px": [int(rec.sizes["y"]), int(rec.sizes["x"])],
        "stimulus_range": [float(rec["stimulus"].min()), float(rec["stimulus"].max())],
        "pixel_size_um": float(rec.attrs["pixel_size_um"]),
        "frame_rate_hz": fps,
        "duration_s": float(rec["time"].values[-1] - rec["time"].values[0] + 1.0 / fps),
        "preprocessing": rec.attrs.get("preprocessing", ""),
        "frames_per_block": blocks,
        "test_repeats": int(repeat_ids.size),
        "frames_per_repeat": [min(lengths), max(lengths)] if lengths else [],
        "labelling": None if labelling is None else {
            "table": labelling.table, "label_column": labelling.label_column,
            "repeat_column": labelling.repeat_column, "blocks": labelling.blocks,
            "identical": labelling.identical, "rule": labelling.rule,
        },
        "cell_columns": columns,
        "mean_rate_hz": {str(int(c)): round(float(r), 3) for c, r in zip(rec["cell"].values, rates, strict=True)},
    }


def _print_summary(s: dict) -> None:
    print(f"file:        {s['source_file']}")
    print(f"session:     {s['session_id']}")
    print(f"stimulus:    {s['stimulus']} (series in file: {', '.join(map(str, s['stimulus_series']))})")
    full_field = s["frame_size_px"] == [1, 1]
    size = "1x1 px (full field)" if full_field else (
        f"{s['frame_size_px'][0]}x{s['frame_size_px'][1]} px ({s['pixel_size_um']:g} um/px)")
    print(f"frames:      {s['frames']} of {size} at {s['frame_rate_hz']:g} Hz = {s['duration_s']:.1f} s; "
          f"values {s['stimulus_range'][0]:g} to {s['stimulus_range'][1]:g} (z-scored for the model)")
    if s.get("preprocessing"):
        print(f"reshaped:    {s['preprocessing']}")
    reps = s["frames_per_repeat"]
    per = "" if not reps else f" of {reps[0]}" + (f"-{reps[1]}" if reps[1] != reps[0] else "") + " frames"
    print(f"blocks:      {', '.join(f'{k}: {v} frames' for k, v in s['frames_per_block'].items())}; "
          f"{s['test_repeats']} test repeats{per}")
    lab = s.get("labelling")
    if lab is None:
        print("labels:      no intervals table used: every frame is train")
    else:
        blocks = ", ".join(f"{k} -> {v}" for k, v in lab["blocks"].items())
        print(f"labels:      intervals table {lab['table']!r}, column {lab['label_column']!r} ({blocks}); "
              f"repeat index from {repr(lab['repeat_column']) if lab['repeat_column'] else 'time order'}")
        print(f"             rule: {lab['rule']}")
    rates = s["mean_rate_hz"]
    print(f"cells:       {s['cells']}, mean rate {np.mean(list(rates.values())):.1f} Hz "
          f"(range {min(rates.values()):.1f}-{max(rates.values()):.1f})")
    print("  " + "  ".join(f"{c}:{r:.1f}" for c, r in rates.items()))
    for name, values in s.get("cell_columns", {}).items():
        shown = values if isinstance(values, str) else ", ".join(f"{k}: {v}" for k, v in values.items())
        print(f"units column {name}: {shown}")
    print("to change the labels: --test-block LABEL, --block-column COLUMN, --repeat-column COLUMN, "
          "--intervals TABLE or --no-intervals")


def cmd_info(args: argparse.Namespace) -> int:
    from retinacodec.io import inspect_nwb, stimulus_names, unit_columns

    rec, labelling = inspect_nwb(str(args.recording), stimulus=args.stimulus, **args.recording.options)
    s = summarize(rec, stimulus_names(str(args.recording)), labelling, unit_columns(str(args.recording)))
    if args.json:
        print(json.dumps(_json_ready(s), indent=2))
    else:
        _print_summary(s)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from retinacodec.io import write_nwb
    from retinacodec.sim.simulate import save_truth, simulate_retina

    out = Path(args.out)
    truth_path = out.with_name(f"{out.stem}_truth.nc")
    rec, truth = simulate_retina(
        n_cells_per_type=args.cells_per_type, size=tuple(args.size), train_seconds=args.train_seconds,
        test_seconds=args.test_seconds, n_repeats=args.repeats, stimulus=args.stimulus, seed=args.seed,
    )
    write_nwb(rec, out, overwrite=True)
    save_truth(truth, truth_path)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {truth_path} "
          f"({truth_path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _architecture(args: argparse.Namespace, rec):  # noqa: ANN001, ANN202
    """The BNCNNConfig that ``fit`` builds from the preset and the --kernels/--channels/--history flags."""
    from retinacodec.model.bncnn import preset_config

    overrides = {k: tuple(v) for k, v in (("kernel_sizes", args.kernels), ("channels", args.channels)) if v}
    size = (rec.sizes["y"], rec.sizes["x"])
    return preset_config(args.preset, n_cells=rec.sizes["cell"], input_size=size, history=args.history, **overrides)


def _describe_architecture(config, frame_rate_hz: float, chosen: bool) -> str:  # noqa: ANN001
    ny, nx = config.input_size
    kind = "temporal-only model (1x1 kernels)" if set(config.kernel_sizes) == {1} else "spatiotemporal model"
    if config.separable:
        kind += (f" with a space-time separable layer 1 (rank {config.separable}; learns faster; "
                 "--preset default or sample for the published layer)")
    how = "chosen for" if chosen else "for"
    return (f"model: {kind}, kernels {', '.join(map(str, config.kernel_sizes))} and channels "
            f"{', '.join(map(str, config.channels))} {how} a {ny}x{nx} px stimulus; history {config.history} frames "
            f"= {config.history / frame_rate_hz * 1e3:.0f} ms at {frame_rate_hz:g} Hz "
            "(change with --kernels, --channels, --history)")


def _ema_decay(text: str) -> float | str | None:
    """--ema-decay's value: a number, ``none`` or ``auto``."""
    if text.lower() in ("none", "auto"):
        return None if text.lower() == "none" else "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.99, none or auto; got {text!r}") from None


def cmd_fit(args: argparse.Namespace) -> int:
    from retinacodec.model.bncnn import PUBLISHED_PRESETS
    from retinacodec.model.training import fit

    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1; got {args.epochs}.")
    if isinstance(args.ema_decay, float) and not 0.0 < args.ema_decay < 1.0:
        raise ValueError(f"--ema-decay must lie between 0 and 1 (e.g. 0.99), none or auto; got {args.ema_decay}.")
    published = args.preset in PUBLISHED_PRESETS  # trained as the papers do, unless --ema-decay says otherwise
    ema_decay = None if args.ema_decay == "auto" and published else args.ema_decay
    rec = _read(args.recording, args.stimulus)
    config = _architecture(args, rec)
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 alone speaks
    if main_process:
        print(_describe_architecture(config, float(rec.attrs["frame_rate_hz"]),
                                     args.preset == "auto" and not args.kernels), flush=True)
    fit(rec, config=config, seed=args.seed, device=args.device, checkpoint=args.out,
        resume=args.resume, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        max_minutes=args.max_minutes, ema_decay=ema_decay, progress=None if sys.stderr.isatty() else "log",
        distributed=int(os.environ.get("WORLD_SIZE", "1")) > 1)
    if main_process:
        print(f"wrote {args.out}")
    return 0


def _nanmedian(values: np.ndarray) -> float:
    """Median of the finite values; NaN (without a warning) when there are none."""
    finite = np.asarray(values, dtype=float)[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def _json_ready(obj):  # noqa: ANN001, ANN202
    """``obj`` with NaN and infinities as None and numpy scalars as Python ones, for strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _evaluation_table(scores) -> str:  # noqa: ANN001
    cols = (["r", "feve", "reliability"] + (["r_truth"] if "r_truth" in scores else [])
            + [c for c in ("ln_r", "ln_feve", "ln_r_truth") if c in scores] + ["mean_rate_hz"])
    unreliable = set(scores.attrs.get("unreliable_cells", []))
    lines = ["cell  " + "  ".join(f"{c:>12}" for c in cols)]
    for i, cid in enumerate(scores["cell"].values):
        mark = "*" if int(cid) in unreliable else " "
        lines.append(f"{int(cid):>4}{mark} " + "  ".join(f"{float(scores[c].values[i]):>12.3f}" for c in cols))
    med = ["median"] + [f"{_nanmedian(scores[c].values):>12.3f}" for c in cols]
    lines.append(f"{med[0]:<6}" + "  ".join(med[1:]))
    lines.append(f"evaluated on: {scores.attrs['block']}, {scores.attrs['n_frames']} frames")
    if "ln_r" in scores:
        better = int(np.sum(scores["r"].values > scores["ln_r"].values))
        lines.append(f"ln_*: the classic LN model (STA filter + binned nonlinearity) on the same frames; the CNN's r "
                     f"is higher for {better} of {scores.sizes['cell']} cells (median {scores.attrs['median_r']:.3f} "
                     f"vs {scores.attrs['ln_median_r']:.3f})")
    if unreliable:
        lines.append("* reliability below 0.3 or FEVE above 1.1: the noise ceiling is poorly estimated, FEVE is not "
                     "meaningful (judge these cells by r)")
    return "\n".join(lines)


def _ln_baseline(model, rec):  # noqa: ANN001, ANN202
    """The LN baseline fitted on the training frames the CNN learned from (never its held-out frames)."""
    from retinacodec.model.frames import training_frames
    from retinacodec.rf.ln import fit_ln

    h = model.config.history
    return fit_ln(rec, h, frames=training_frames(rec, h, getattr(model, "metadata", None)))


def _evaluate_and_report(model, rec, truth, as_json: bool, figure: str | None,  # noqa: ANN001
                         baseline: str | None = None) -> None:
    from retinacodec.model.evaluation import evaluate

    scores = evaluate(model, rec, truth, baseline=_ln_baseline(model, rec) if baseline == "ln" else None)
    if as_json:
        out = {k: scores[k].values.tolist() for k in scores.data_vars}
        out["cell"] = [int(c) for c in scores["cell"].values]
        out.update(scores.attrs)
        print(json.dumps(_json_ready(out), indent=2, allow_nan=False))
    else:
        print(_evaluation_table(scores))
    if figure:
        _prediction_figure(model, rec, truth, scores, figure)


def _prediction_figure(model, rec, truth, scores, path: str) -> None:  # noqa: ANN001
    """Predicted vs recorded traces: the trial mean of the test repeats, else single trials of held-out frames."""
    from retinacodec.figures import plot_prediction, save_figure
    from retinacodec.model.evaluation import predict
    from retinacodec.model.frames import choose_frames
    from retinacodec.recording import repeated_responses

    fps = float(rec.attrs["frame_rate_hz"])
    h = model.config.history
    seconds = None
    if np.any(rec["repeat"].values >= 0):
        recorded = repeated_responses(rec).mean("repeat").isel(frame=slice(h - 1, None)) * fps
        label = "recorded (trial mean)"
    else:
        frames, rule = choose_frames(rec, h, getattr(model, "metadata", None))
        recorded = rec["spikes"].sel(frame=frames).astype(np.float64) * fps
        label = f"recorded (single trial; {rule}, no test repeats)"
        seconds = 10.0  # single trials of a long stretch squeezed into one page show nothing
    frames = recorded["frame"].values
    pred = predict(model, rec, frames)
    true_rate = pred.copy(data=truth["rate"].values[frames]) if truth is not None else None
    save_figure(plot_prediction(pred, recorded.transpose("frame", "cell"), scores, true_rate, seconds=seconds,
                                recorded_label=label, cell_types=_cell_types(truth)), path)
    print(f"wrote {path}", file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = _load(args.model, device=args.device)
    rec = _read(args.recording, args.stimulus)
    truth = _truth_for(Path(args.recording), rec, args.truth)
    _evaluate_and_report(model, rec, truth, args.json, args.figure, args.baseline)
    return 0


QUICK_DEMO_MINUTES = 0.1
"""The fit's time budget under ``demo --quick``."""


def cmd_demo(args: argparse.Namespace) -> int:
    from retinacodec.figures import plot_recording, save_figure
    from retinacodec.io import inspect_nwb, stimulus_names
    from retinacodec.model.training import fit
    from retinacodec.sample import sample_paths
    from retinacodec.sim.simulate import load_truth

    out = Path(args.out)
    nwb, truth_path = sample_paths()
    rec, labelling = inspect_nwb(nwb)  # as read_nwb (load_sample), with how the blocks were labelled
    truth = load_truth(truth_path, rec)
    print(f"== the shipped sample: {nwb}")
    _print_summary(summarize(rec, stimulus_names(nwb), labelling))
    print(f"wrote {save_figure(plot_recording(rec), out / 'sample_summary.png')}")
    epochs, budget = (1, QUICK_DEMO_MINUTES) if args.quick else (args.epochs, None)
    # fit's defaults, as the shipped sample model (--quick: no weight average, too few steps for one)
    ema = None if args.quick else "auto"
    print("\n== fitting the 3-layer CNN (fit's defaults: a space-time separable layer 1"
          + (", the weight average" if ema else "") + f"; up to {epochs} epochs"
          + (f", {budget * 60:.0f} s: --quick)" if budget else ")"))
    model = fit(rec, seed=args.seed, device=args.device, checkpoint=out / "model.pt", epochs=epochs,
                max_minutes=budget, ema_decay=ema, progress=None if sys.stderr.isatty() else "log")
    log = model.metadata["fit_log"]
    print(f"fitted in {log[-1]['seconds']:.0f} s, {len(log)} epochs; wrote {out / 'model.pt'}")
    print("\n== evaluation on the repeated test block")
    _evaluate_and_report(model, rec, truth, False, str(out / "prediction.png"))
    if args.quick:  # CODEC's SAEs and the receptive fields take minutes: the full demo runs them
        print("\n--quick: stopped after the evaluation (a fit this short predicts little); `retinacodec demo` fits "
              "in full and runs CODEC and the receptive fields")
        return 0
    modes = _demo_modes(model, rec, truth, out)
    _demo_receptive_fields(model, rec, truth, modes, out)
    return 0


def _demo_modes(model, rec, truth, out: Path):  # noqa: ANN001, ANN202
    """The demo's CODEC step: the default, checked against the true ON / OFF pathways, then the paper's recipe."""
    import xarray as xr

    from retinacodec.codec import decompose, save_modes
    from retinacodec.codec.analyses import match_pathways

    log = None if sys.stderr.isatty() else "log"
    print("\n== CODEC (preset 'codec', the default): integrated-gradient contributions of each layer to each cell's "
          "generator signal, split by sign and summed over space, decomposed by a BatchTopK SAE")
    modes = decompose(model, rec, ["layer1", "layer2"], progress=log)
    save_modes(modes, out / "modes.nc")
    _print_modes(modes, out / "modes.nc")
    drives = xr.concat([truth["on_drive"], truth["off_drive"]], dim=xr.DataArray(["on", "off"], dims="pathway"))
    layer1 = modes.sel(mode=modes["mode_layer"] == "layer1")
    match = match_pathways(layer1["loadings"], drives.sel(frame=modes["frame"].values))
    print("ON-OFF cells: the layer-1 mode that best follows each true pathway drive (Pearson r over the test clip)")
    for cell in truth["cell"].values[truth["cell_type"].values == "ON-OFF"]:
        m = match.sel(cell=cell)
        print(f"  cell {int(cell)}: ON pathway -> mode {int(m['best_mode'].sel(pathway='on'))} "
              f"(r = {float(m['best_r'].sel(pathway='on')):.2f}), OFF pathway -> mode "
              f"{int(m['best_mode'].sel(pathway='off'))} (r = {float(m['best_r'].sel(pathway='off')):.2f})")
    print("\n== the published recipe (preset 'paper'): contributions to the surprisal of the population rate, CODEC's "
          "thresholded-sigmoid SAE with the official hyper-parameters, trained on the test clip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paper = decompose(model, rec, ["layer1", "layer2"], preset="paper", progress=log)
    save_modes(paper, out / "modes_paper.nc")
    _print_modes(paper, out / "modes_paper.nc")
    if not int(paper["n_modes"].sum()):
        print(f"It keeps no mode here, as expected: {len(caught)} warning(s). A code is kept only above a 0.9 "
              "threshold, PyTorch's initialisation opens almost none, and a closed code gets no gradient; the "
              "official run also made 36,800 optimiser steps on ~5,956 frames, this clip gives 7 steps an epoch. "
              "`retinacodec decompose --preset paper_open` opens 5 % of the codes and makes the official number of "
              "steps (minutes).")
    return modes


def _demo_receptive_fields(model, rec, truth, modes, out: Path) -> None:  # noqa: ANN001
    """The demo's receptive fields: STA vs the model's mean IRF, RFs per mode, and the paper's retina figure."""
    import matplotlib.pyplot as plt
    import xarray as xr

    from retinacodec import figures
    from retinacodec.rf import fit_ellipse, instantaneous_rf, mode_combination_irfs, polarity_and_latency, rank1, sta

    print("\n== receptive fields: the recording's STA, the model's instantaneous RFs (IRFs), IRFs per mode")
    px = float(rec.attrs["pixel_size_um"])
    parts = {"STA": rank1(sta(rec, model.config.history)["sta"])}
    irf_path = instantaneous_rf(model, rec, rank1=True, out=out / "irf.nc")
    irf = xr.load_dataset(irf_path)
    every = instantaneous_rf(model, rec, irf["frame"].values[::4])["irf"]
    parts["mean IRF"] = rank1(every.mean("frame"))
    print(f"wrote {irf_path} (rank-1 IRFs of every test frame and cell)")
    ellipses = {}
    for name, part in parts.items():
        ellipses[name] = xr.merge([fit_ellipse(part["spatial"], px),
                                   polarity_and_latency(part["spatial"], part["temporal"])])
    print("cell  type    true centre (px)   STA centre   mean-IRF centre   STA / IRF polarity")
    for cell in rec["cell"].values:
        e = {n: d.sel(cell=cell) for n, d in ellipses.items()}
        true = (f"({float(truth['position_y'].sel(cell=cell)):4.1f}, {float(truth['position_x'].sel(cell=cell)):4.1f})"
                if truth is not None and "position_y" in truth else "")
        kind = str(truth["cell_type"].sel(cell=cell).values) if truth is not None else ""
        centres = "   ".join(f"({float(d['centre_y']):4.1f}, {float(d['centre_x']):4.1f})" for d in e.values())
        print(f"{int(cell):>4}  {kind:<6}  {true:<17}  {centres}      "
              + " / ".join("ON" if float(d["polarity"]) > 0 else "OFF" for d in e.values()))
    layer1 = modes["loadings"].isel(mode=np.flatnonzero(modes["mode_layer"].values == "layer1"))
    combos = mode_combination_irfs(layer1, irf)  # the official counts the sets of one layer's modes
    types = truth["cell_type"] if truth is not None else None
    drawn = {"rf_mosaic": lambda: figures.plot_rf_mosaic(ellipses["STA"], (rec.sizes["y"], rec.sizes["x"]), truth),
             "rf_sta_vs_irf": lambda: figures.plot_rf_pairs(parts, cell_types=types),
             "irf_per_mode": lambda: figures.plot_mode_irf_grid(combos)}  # the 12 most frequent sets
    jobs = _figure_jobs(modes, irf, rec, truth)
    drawn.update({name: jobs[name] for name in ("mode_atoms", "mode_vs_drive", "cell_mode_correlation",
                                                "retina_figure") if name in jobs})
    for name, draw in drawn.items():
        fig = draw()
        print(f"wrote {figures.save_figure(fig, out / f'{name}.png')}")
        plt.close(fig)


def _print_modes(ds, path: Path) -> None:  # noqa: ANN001
    """One line per SAE: modes kept, R² both ways, and the contributions' completeness."""
    print(f"wrote {path}")
    for i, sae in enumerate(ds["sae"].values):
        line = (f"  {sae}: {int(ds['n_modes'][i])} modes, R2 {float(ds['r2'][i]):.3f} (grand-mean R2 "
                f"{float(ds['r2_grand'][i]):.3f}) on {ds.attrs['metrics_on']}")
        if "completeness_median" in ds:
            errors = ", ".join(f"{float(ds['completeness_median'].sel(hooked_layer=n)):.1e}"
                               for n in ds["hooked_layer"].values if n in str(sae).split("+"))
            line += f"; median relative completeness error {errors}"
        mine = ds["loadings"].sel(mode=ds["mode_layer"] == sae)
        if mine.sizes["mode"]:
            shares = np.bincount((mine > 0).sum("mode").values.ravel()) / mine[..., 0].size
            line += "; active modes per sample " + ", ".join(f"{n}: {100 * share:.0f} %"
                                                              for n, share in enumerate(shares) if share >= 0.005)
        print(line)


def cmd_contributions(args: argparse.Namespace) -> int:
    from retinacodec.attribution import contributions_for_recording

    model = _load(args.model, device=args.device)
    rec = _read(args.recording, args.stimulus)
    target = int(args.target) if args.target.lstrip("-").isdigit() else args.target
    out = contributions_for_recording(
        model, rec, args.layers, frames=_frames(args, model, rec), out=args.out, chunk_size=args.chunk_size,
        target=target, method=args.method,
        steps=args.steps, rule=args.rule, reduce=args.reduce, split_sign=args.split_sign,
        max_memory_gb=args.max_memory_gb, kink_correction=not args.no_kink_correction,
        smooth_output=not args.no_smooth_output,
    )
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_rf(args: argparse.Namespace) -> int:
    import xarray as xr

    from retinacodec.atomic import atomic_path
    from retinacodec.rf import instantaneous_rf, sta

    nwb_out = Path(args.nwb_out) if args.nwb_out else None
    if nwb_out is not None and nwb_out.exists() and not args.overwrite and nwb_out.resolve() != Path(
            args.recording).resolve():
        raise FileExistsError(f"{nwb_out} already exists; pass --overwrite to replace it.")
    model = _load(args.model, device=args.device)
    rec = _read(args.recording, args.stimulus)
    frames = _frames(args, model, rec)
    with atomic_path(args.out) as tmp:
        instantaneous_rf(model, rec, frames, args.cells, method=args.method, steps=args.steps, crop=args.irf_crop,
                         rank1=not args.full, max_memory_gb=args.max_memory_gb, out=tmp, device=args.device)
        filters = None
        if not args.no_sta or args.nwb_out:
            filters = sta(rec, model.config.history, block=args.sta_block)
        if not args.no_sta:
            filters.to_netcdf(tmp, mode="a", group="sta")
    with xr.open_dataset(args.out) as ds:
        what = "rank-1 IRFs" if "spatial" in ds else "IRFs"
        print(f"wrote {args.out}: {what} of {ds.sizes['cell']} cells at {ds.sizes['frame']} frames"
              + ("" if args.no_sta else f", and the STA of the {args.sta_block} block (group 'sta': "
                                        "xr.open_dataset(path, group='sta'))"))
    if args.nwb_out:
        _write_rf_nwb(args, filters)
    return 0


def _write_rf_nwb(args: argparse.Namespace, filters) -> None:  # noqa: ANN001
    """--nwb-out: the STAs and their fits (rank-1 parts, polarity, latency; ellipses for spatial stimuli) into NWB."""
    import xarray as xr

    from retinacodec.io.nwb_rf import MODULE, TABLE, write_rf_nwb
    from retinacodec.rf import fit_ellipse, polarity_and_latency, rank1

    parts = rank1(filters["sta"])
    fits = xr.merge([parts, polarity_and_latency(parts["spatial"], parts["temporal"])])
    if filters.sizes["y"] * filters.sizes["x"] > 1:  # a full-field stimulus has no ellipse
        fits = xr.merge([fits, fit_ellipse(parts["spatial"], float(filters.attrs["pixel_size_um"]))])
    out = write_rf_nwb(str(args.recording), args.nwb_out, filters, fits)
    print(f"wrote {out}: processing module {MODULE!r}, table {TABLE!r} (one row per unit)")


def cmd_decompose(args: argparse.Namespace) -> int:
    from retinacodec.codec import decompose, save_modes

    model = _load(args.model, device=args.device)
    rec = _read(args.recording, args.stimulus)
    options = {key: getattr(args, key) for key in DECOMPOSE_OPTIONS if getattr(args, key) is not None}
    if args.expansion is not None:
        try:
            options["expansion"] = None if args.expansion == "default" else float(args.expansion)
        except ValueError:
            raise ValueError(f"--expansion must be a number or 'default'; got {args.expansion!r}.") from None
    frames = {key: np.arange(*getattr(args, key)) for key in ("frames", "fit_frames") if getattr(args, key) is not None}
    ds = decompose(model, rec, args.layers, preset=args.preset, seed=args.seed, device=args.device,
                   progress=None if sys.stderr.isatty() else "log", **frames, **options)
    out = save_modes(ds, args.out)
    print(f"preset {args.preset!r}, target {ds.attrs['target']!r}: {ds.sizes['mode']} modes")
    _print_modes(ds, out)
    return 0


def _open_result(path: str, required: tuple[str, ...], what: str):  # noqa: ANN202
    """Open a saved NetCDF result, or raise a one-line error naming the file and what it should be."""
    import xarray as xr

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} does not exist; give the path of a {what}.")
    try:
        ds = xr.load_dataset(path)
    except Exception as exc:  # noqa: BLE001 (any reader failure means: not a NetCDF file)
        raise ValueError(f"{path} is not a NetCDF file ({type(exc).__name__}); give a {what}.") from None
    missing = [v for v in required if v not in ds.variables]
    if missing:
        raise ValueError(f"{path} is not a {what}: it lacks {missing}.")
    return ds


def _figure_jobs(modes, irf, rec, truth, sta=None) -> dict:  # noqa: ANN001
    """Name → function drawing one figure, for every figure the inputs allow (one raising ValueError: skipped)."""
    import xarray as xr

    from retinacodec import figures
    from retinacodec.codec.analyses import cell_mode_correlation, match_pathways

    jobs: dict = {}
    labels = list(truth["cell_type"].values) if truth is not None else None
    if modes.sizes["mode"] == 0:
        print("retinacodec: the modes file holds no mode (the SAE kept none); only figures of the recording and "
              "rates are drawn.", file=sys.stderr)
    else:
        names: dict = {}
        if truth is not None and "cell" in modes["loadings"].dims:
            drives = xr.concat([truth["on_drive"], truth["off_drive"]], dim=xr.DataArray(["on", "off"], dims="pathway"))
            match = match_pathways(modes["loadings"], drives.sel(frame=modes["frame"].values))
            onoff = list(truth["cell"].values[truth["cell_type"].values == "ON-OFF"]) or list(match["cell"].values)
            cell = int(max(onoff, key=lambda c: float(match["best_r"].sel(cell=c).min())))
            pairs = {p: int(match["best_mode"].sel(cell=cell, pathway=p)) for p in ("on", "off")}
            names = {pairs["on"]: "ON", pairs["off"]: "OFF"}
            jobs["mode_vs_drive"] = lambda: figures.plot_mode_vs_drive(modes, drives, cell, pairs)
        jobs["mode_atoms"] = lambda: figures.plot_mode_atoms(modes, labels=names)
        if "rate" in modes:
            corr = cell_mode_correlation(modes["loadings"], modes["rate"])
            layer1 = modes["loadings"].isel(mode=np.flatnonzero(modes["mode_layer"].values == "layer1"))
            clusters = (_cell_clusters(layer1 if layer1.sizes["mode"] else modes["loadings"], modes["rate"])
                        if modes.sizes["cell"] >= 4 else None)
            jobs["cell_mode_correlation"] = lambda: figures.plot_cell_mode_correlation(corr, clusters, labels)
            if "contributions" in modes:
                jobs["retina_figure"] = lambda: figures.plot_retina_figure(modes, irf, clusters, corr,
                                                                           cell_labels=labels)
    if irf is not None:
        jobs.update(_rf_jobs(modes, irf, truth, sta))
    if rec is not None:
        jobs["recording"] = lambda: figures.plot_recording(rec)
        if "rate" in modes and np.any(rec["repeat"].values >= 0):
            jobs["prediction"] = lambda: _prediction_from_rates(modes, rec, truth)
    return jobs


def _cell_clusters(loadings, rates):  # noqa: ANN001, ANN202
    """The official cell clusters (``paper_cell_clusters``: k-means, k by silhouette), every cluster of ≥ 2 cells.

    A cluster of one cell says nothing about a group; of the k in 2 .. 8 whose clusters all hold
    at least two cells, the one with the best silhouette (the official choice when it qualifies).
    """
    import xarray as xr

    from retinacodec.codec.analyses import cell_mode_correlation, cluster_cells

    corr = cell_mode_correlation(loadings, rates)
    fits = [cluster_cells(corr, k_range=range(k, k + 1), seed=42, standardize=True)
            for k in range(2, min(9, corr.sizes["cell"] // 2 + 1))]
    sized = [f for f in fits if np.bincount(f["cluster"].values).min() >= 2] or fits[:1]
    best = max(sized, key=lambda f: float(f["silhouette"].max()))
    return xr.Dataset({"cluster": best["cluster"], "r": corr,
                       "silhouette": ("k", [float(f["silhouette"].max()) for f in fits])},
                      coords={"k": [int(f.attrs["k"]) for f in fits]}, attrs={**best.attrs, "min_cluster_size": 2})


def _rf_jobs(modes, irf, truth, sta) -> dict:  # noqa: ANN001
    """The receptive-field figures an IRF file (with its STA group) supports: mosaic, STA vs IRF, IRF per mode."""
    import xarray as xr

    from retinacodec import figures
    from retinacodec.rf import fit_ellipse, mean_irf, mode_combination_irfs, polarity_and_latency, rank1

    jobs: dict = {}
    types = truth["cell_type"] if truth is not None else None
    if sta is not None:
        parts = {"STA": rank1(sta["sta"]), "mean IRF": rank1(mean_irf(irf))}
        if figures.rf.full_field(sta):
            jobs["rf_mosaic"] = lambda: _skip("a full-field (1x1) stimulus has no spatial map, so no mosaic")
        else:
            px = float(sta.attrs["pixel_size_um"])
            ellipses = xr.merge([fit_ellipse(parts["STA"]["spatial"], px),
                                 polarity_and_latency(parts["STA"]["spatial"], parts["STA"]["temporal"])])
            jobs["rf_mosaic"] = lambda: figures.plot_rf_mosaic(ellipses, (sta.sizes["y"], sta.sizes["x"]), truth,
                                                               cell_types=types, source="STA")
        jobs["rf_sta_vs_irf"] = lambda: figures.plot_rf_pairs(parts, cell_types=types)
    else:
        jobs["rf_mosaic"] = jobs["rf_sta_vs_irf"] = lambda: _skip(
            "the IRF file has no STA (it was made with `retinacodec rf --no-sta`)")
    if modes.sizes["mode"]:
        layer1 = modes["loadings"].isel(mode=np.flatnonzero(modes["mode_layer"].values == "layer1"))
        layer1 = layer1 if layer1.sizes["mode"] else modes["loadings"]
        jobs["irf_per_mode"] = lambda: figures.plot_mode_irf_grid(mode_combination_irfs(layer1, irf),
                                                                  cell_types=types)
    return jobs


def _skip(reason: str):  # noqa: ANN202
    """A figure job that cannot be drawn: raises the one-line reason ``figures`` prints."""
    raise ValueError(reason)


def _prediction_from_rates(modes, rec, truth):  # noqa: ANN001, ANN202
    """The prediction figure from a result's model rates and a recording's test repeats (r and FEVE per cell)."""
    import xarray as xr

    from retinacodec.figures import plot_prediction
    from retinacodec.model.metrics import feve, pearson_per_cell
    from retinacodec.recording import repeated_responses

    fps = float(rec.attrs["frame_rate_hz"])
    reps = repeated_responses(rec)
    frames = np.intersect1d(modes["frame"].values, reps["frame"].values)
    if frames.size < 3:
        raise ValueError("the result's frames are not frames of the recording's test repeat 0; give the recording "
                         "the modes were computed on.")
    observed = reps.sel(frame=frames).transpose("repeat", "frame", "cell").astype(np.float64) * fps
    pred = modes["rate"].sel(frame=frames).transpose("frame", "cell")
    scores = xr.Dataset({"r": ("cell", pearson_per_cell(pred.values, observed.values.mean(0)))},
                        coords={"cell": pred["cell"].values})
    if observed.sizes["repeat"] >= 2:
        scores["feve"] = ("cell", feve(pred.values, observed.values))
    true_rate = truth["rate"].sel(frame=frames) if truth is not None else None
    if true_rate is not None:  # as evaluate scores it, so both prediction.png say the same
        scores["r_truth"] = ("cell", pearson_per_cell(pred.values, true_rate.transpose("frame", "cell").values))
    return plot_prediction(pred, observed.mean("repeat").assign_coords(time=pred["time"]), scores, true_rate,
                           cell_types=_cell_types(truth))


def _cell_types(truth):  # noqa: ANN001, ANN202
    """The truth's ``cell_type`` (ON, OFF, ON-OFF per cell), or None without a truth."""
    return truth["cell_type"] if truth is not None and "cell_type" in truth else None


def cmd_phenomena(args: argparse.Namespace) -> int:
    """Run every retinal-phenomenon experiment on MODEL and the simulator; NetCDF, figures and the table to --out."""
    import matplotlib.pyplot as plt

    from retinacodec.atomic import save_netcdf
    from retinacodec.figures import save_figure
    from retinacodec.figures.phenomena import plot_phenomenon
    from retinacodec.phenomena import run_all

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise FileExistsError(f"{out} already exists and is not empty; pass --overwrite to replace its files.")
    model = _load(args.model)
    circuit = _phenomena_circuit(args, model)
    results, table = run_all(model, circuit, progress=True)
    out.mkdir(parents=True, exist_ok=True)
    for name, ds in results.items():
        print(save_netcdf(ds, out / f"{name}.nc"))
        fig = plot_phenomenon(ds)
        for fmt in ("png", "pdf"):
            print(save_figure(fig, out / f"{name}.{fmt}"))
        plt.close(fig)
    (out / "table.txt").write_text(table.to_string(float_format=lambda v: f"{v:.4g}") + "\n")
    (out / "table.json").write_text(json.dumps(_json_ready(table.reset_index().to_dict(orient="records")), indent=2))
    print(out / "table.txt")
    print(out / "table.json")
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


def _phenomena_circuit(args: argparse.Namespace, model):  # noqa: ANN001, ANN202
    """The simulated circuit MODEL was fitted to: --truth, the truth beside --recording, else beside the model's
    recording or the shipped sample's; --reference takes the reference retina; else a one-line error."""
    from retinacodec.sim import RetinaCircuit
    from retinacodec.sim.simulate import load_truth

    if args.reference:
        print("comparing with the reference phenomena retina (RetinaCircuit.phenomena: 3 cells, 12 x 12 pixels), not "
              "the circuit the model was fitted to: cells are matched by index only")
        return None
    meta = getattr(model, "metadata", {}) or {}
    if args.truth:
        path = Path(args.truth)
    elif args.nwb:
        path = Path(args.nwb).with_name(f"{Path(args.nwb).stem}_truth.nc")
        if not path.exists():
            raise ValueError(f"{args.nwb} has no simulator truth beside it ({path.name}); give --truth TRUTH.nc, or "
                             "--reference to compare with the reference retina instead.")
    else:
        path = _fitted_truth(meta)
        if path is None:
            raise ValueError(f"{args.model} was fitted to {meta.get('source_file') or 'a recording'} (session "
                             f"{meta.get('session_id', '?')!r}), which has no simulator truth to compare with; give "
                             "--truth TRUTH.nc (retinacodec simulate writes one) or --reference for the reference "
                             "retina.")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; give the simulator truth (.nc) of the model's recording.")
    circuit = RetinaCircuit.from_truth(load_truth(path))
    n_cells = int(model.config.n_cells) if hasattr(model.config, "n_cells") else None
    if n_cells is not None and n_cells != circuit.n_cells:
        raise ValueError(f"{path} is a circuit of {circuit.n_cells} cells but the model has {n_cells}: it is not the "
                         "circuit the model was fitted to; give that recording's truth.")
    print(f"comparing with the circuit the model was fitted to: {path} ({circuit.n_cells} cells, "
          f"{circuit.size[0]} x {circuit.size[1]} pixels), cell by cell")
    return circuit


def _fitted_truth(meta: dict) -> Path | None:
    """The truth of the recording a model's metadata names: beside its source file, or the shipped sample's."""
    from retinacodec.sample import sample_paths

    source = Path(str(meta.get("source_file", "")))
    if source.name:
        beside = source.with_name(f"{source.stem}_truth.nc")
        if beside.is_file():
            return beside
    import h5py

    nwb, truth = sample_paths()
    with h5py.File(nwb, "r") as f:  # the sample's session id, without reading the recording
        session = f["general/session_id"][()].decode() if "general/session_id" in f else None
    return Path(truth) if session and meta.get("session_id") == session else None


def cmd_figures(args: argparse.Namespace) -> int:
    import xarray as xr

    from retinacodec.figures import save_figure

    modes = _open_result(args.modes, ("modes", "loadings", "mode_layer"),
                         "CODEC result (retinacodec decompose --out / save_modes)")
    irf = sta = None
    if args.irf:
        irf = _open_result(args.irf, ("rate",), "IRF file (retinacodec rf --out)")
        if "spatial" not in irf and "irf" not in irf:
            raise ValueError(f"{args.irf} is not an IRF file: it has neither 'spatial' nor 'irf'.")
        _check_same_run(modes, irf, args.modes, args.irf, "IRF file")
        try:
            sta = xr.load_dataset(args.irf, group="sta")
        except OSError:  # no group 'sta': made with --no-sta
            sta = None
    rec = truth = None
    if args.nwb:
        args.recording = args.nwb
        rec = _read(_RecordingArg.of(args), args.stimulus)
        _check_same_run(modes, rec, args.modes, args.nwb, "recording")
        truth = _truth_for(Path(args.nwb), rec, args.truth)
    import matplotlib.pyplot as plt

    jobs = _figure_jobs(modes, irf, rec, truth, sta)
    out = Path(args.out)
    existing = [str(out / f"{name}.{args.format}") for name in jobs if (out / f"{name}.{args.format}").exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace them.")
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in jobs.items():
        try:
            fig = draw()
        except ValueError as exc:
            print(f"retinacodec: skipped {name}: {exc}", file=sys.stderr)
            continue
        print(save_figure(fig, out / f"{name}.{args.format}"))
        plt.close(fig)
    if irf is None:
        print("retinacodec: no --irf: the receptive-field figures (rf_mosaic, rf_sta_vs_irf, irf_per_mode) and the "
              "IRF insets need `retinacodec rf MODEL REC --out rf.nc`, then --irf rf.nc", file=sys.stderr)
    return 0


def _check_same_run(modes, other, modes_path: str, other_path: str, what: str) -> None:  # noqa: ANN001
    """Raise a one-line error when a recording or IRF file is not of the recording and frames the modes come from."""
    mine = str(modes.attrs.get("provenance", ""))
    theirs = str(other.attrs.get("session_id", other.attrs.get("provenance", "")))
    if mine and theirs and mine != theirs:
        raise ValueError(f"{other_path} is not the {what} of {modes_path}: it is of session {theirs!r}, the modes of "
                         f"{mine!r}; give the {what} the modes were computed from.")
    frames = modes["frame"].values
    if "cell" in other.dims and "cell" in modes.dims and not np.array_equal(
            np.sort(other["cell"].values), np.sort(modes["cell"].values)):
        raise ValueError(f"{other_path} has cells {other['cell'].values.tolist()} but {modes_path} has "
                         f"{modes['cell'].values.tolist()}: the inputs do not match; give the {what} the modes were "
                         "computed from.")
    known = other["frame"].values
    shared = np.isin(frames, known).mean() if what == "recording" else np.isin(known, frames).any()
    if (what == "recording" and shared < 1) or not shared:
        raise ValueError(f"{other_path} does not hold the frames of {modes_path} ({frames[0]}..{frames[-1]}): the "
                         f"inputs do not match; give the {what} the modes were computed from"
                         + (" (retinacodec rf MODEL REC --out rf.nc covers them)." if what == "IRF file" else "."))


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert a torch-deep-retina or openretina recording to NWB, or a torch-deep-retina BNCNN to our checkpoint."""
    from retinacodec.io import read_recording, recording_format, write_nwb

    src, out = Path(args.source), Path(args.out)
    if src.suffix in (".pt", ".pth"):
        return _convert_checkpoint(args, src, out)
    if out.suffix != ".nwb":
        raise ValueError(f"OUT must be an .nwb file for a recording; got {out.name}.")
    fmt = recording_format(src) if args.format == "auto" else args.format
    options = {"pixel_size_um": args.pixel_size_um, "gap_s": args.gap_s}
    if fmt == "tdr":
        options["frame_rate_hz"] = args.frame_rate
    elif fmt == "openretina":
        if args.frame_rate is None:
            raise ValueError(f"{src} is in openretina's layout, which stores no frame rate; pass --frame-rate HZ.")
        options.update(frame_rate_hz=args.frame_rate, session=args.session, test_stimuli=args.test_stimuli or (),
                       channel=args.channel)
    else:
        raise ValueError(f"{src} is already an NWB file; read it with `retinacodec info {src}`.")
    rec = read_recording(src, fmt, **options)
    write_nwb(rec, out, overwrite=True)
    rep = rec["repeat"].values
    print(f"wrote {out}: {rec.sizes['cell']} cells, {rec.sizes['frame']} frames of {rec.sizes['y']}x{rec.sizes['x']} "
          f"px at {rec.attrs['frame_rate_hz']:g} Hz ({int((rec['block'].values == 'train').sum())} train, "
          f"{len(np.unique(rep[rep >= 0]))} test repeats)")
    return 0


def _convert_checkpoint(args: argparse.Namespace, src: Path, out: Path) -> int:
    """A torch-deep-retina BNCNN checkpoint → a retinacodec checkpoint (``load_model`` reads it)."""
    from retinacodec.model.checkpoint import save_checkpoint
    from retinacodec.model.tdr_checkpoint import load_tdr_model

    if out.suffix not in (".pt", ".pth"):
        raise ValueError(f"{src} is a model checkpoint; OUT must be a retinacodec checkpoint (.pt), not {out.name}.")
    model = load_tdr_model(src, normalization=args.normalization)
    save_checkpoint(out, model, model.normalization, metadata=model.metadata)
    c = model.config
    print(f"wrote {out}: BNCNN (per-unit BatchNorm) of {c.n_cells} cells, {c.history} frames of "
          f"{c.input_size[0]}x{c.input_size[1]} px, kernels {list(c.kernel_sizes)}, channels {list(c.channels)}")
    return 0


def _frames_flag(s: argparse.ArgumentParser) -> None:
    """--frames START STOP, with the shared default's rule in its help."""
    s.add_argument("--frames", type=int, nargs=2, metavar=("START", "STOP"), default=None,
                   help="response frames START..STOP-1 (default: test repeat 0; else the unrepeated test block; else "
                        "the model's held-out validation frames)")


def _reader_args(s: argparse.ArgumentParser) -> None:
    """The flags of every command that reads a recording: the options of ``retinacodec.io.read_nwb``."""
    g = s.add_argument_group("reading the recording", "How the NWB file is read and its frames labelled; "
                             "`retinacodec info RECORDING` shows what the defaults give.")
    g.add_argument("--stimulus", metavar="SERIES", help="stimulus series to use when the file has several")
    g.add_argument("--intervals", metavar="TABLE",
                   help="intervals table that labels train/test blocks (default: the one with a block or "
                        "stimulus-name column)")
    g.add_argument("--no-intervals", action="store_true", help="ignore intervals tables: every frame is train")
    g.add_argument("--test-block", metavar="LABEL",
                   help="label (in the block or stimulus-name column) of the repeated test block; all other "
                        "labelled intervals become train (default: the stimulus repeated identically)")
    g.add_argument("--block-column", metavar="COLUMN", help="intervals column holding block or stimulus labels")
    g.add_argument("--repeat-column", metavar="COLUMN",
                   help="intervals column numbering the repeats (default: repeat, repetition, trial ...)")
    g.add_argument("--pixel-size-um", type=float, metavar="UM",
                   help="stimulus pixel size on the retina in um (default: from the file)")
    g.add_argument("--stimulus-axes", choices=("xy", "yx"), default="xy",
                   help="order of the image axes in the file: xy as the NWB schema says, yx for [frame][row][col]")
    g.add_argument("--crop", type=int, nargs=4, metavar=("TOP", "LEFT", "HEIGHT", "WIDTH"),
                   help="keep this window of the stimulus (pixels)")
    g.add_argument("--downsample", type=int, metavar="N", help="average N x N blocks of pixels (after --crop)")
    g.add_argument("--bin-ms", type=float, metavar="MS",
                   help="resample the stimulus and bin the spikes in bins of MS ms (default: one bin per frame)")


def _model_recording_args(s: argparse.ArgumentParser, model: bool = True) -> None:
    """The positional MODEL and RECORDING arguments, the reader flags and --device shared by subcommands."""
    if model:
        s.add_argument("model", help="checkpoint from `retinacodec fit` (.pt)")
    s.add_argument("recording", help="NWB file")
    _reader_args(s)
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows every option's default.

    Options whose help already says its default, flags (off by default) and options without a
    default (None: not used unless given) show no ``(default: ...)``.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        if "(default" in (action.help or "") or action.default in (None, False):
            return action.help or ""
        return super()._get_help_string(action)


class _TopFormatter(_Formatter, argparse.RawDescriptionHelpFormatter):
    """The top-level help: defaults shown, the description's paragraphs kept."""


DESCRIPTION = """\
Models of the retina fitted to your own recordings.

Reads a retinal recording -- sorted ganglion-cell spikes and the stimulus shown, in an NWB
file -- fits the Baccus-lab three-layer CNN to it, scores the model on the repeated test
stimulus (correlation with the trial average, FEVE), and decomposes what its interneurons
contribute to each cell (CODEC contribution modes).

Start with `retinacodec demo` (the shipped sample), or `retinacodec info YOUR.nwb` to see
how your file is read and which frames become the training and the test block.
Errors print one line and exit with status 2."""


def build_parser() -> argparse.ArgumentParser:
    from retinacodec import __version__

    p = argparse.ArgumentParser(prog="retinacodec", description=DESCRIPTION, formatter_class=_TopFormatter)
    p.add_argument("--version", action="version", version=f"retinacodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def parser(name: str, help: str, description: str) -> argparse.ArgumentParser:  # noqa: A002
        return sub.add_parser(name, help=help, description=description, formatter_class=_Formatter)

    s = parser("info", "summarise an NWB recording and how it is read",
               "Summarise an NWB recording: stimulus, cells (with the Units table's extra columns), and how "
               "its frames were labelled train / test / other and by repeat, with the flags that change it.")
    s.add_argument("recording", help="NWB file")
    _reader_args(s)
    s.add_argument("--json", action="store_true", help="print JSON instead of text")
    s.set_defaults(func=cmd_info)

    s = parser("simulate", "simulate a ground-truth retina recording to NWB",
               "Simulate a recording from the ground-truth retina; writes OUT.nwb and "
               "OUT_truth.nc (cell types, pathway drives, noise-free rates).")
    s.add_argument("out", help="output NWB file")
    s.add_argument("--seed", type=int, default=0, help="seeds the circuit, the stimulus and the spikes")
    s.add_argument("--size", type=int, nargs=2, default=(20, 20), metavar=("NY", "NX"), help="stimulus pixels")
    s.add_argument("--cells-per-type", type=int, default=3, help="ON, OFF and ON-OFF cells each")
    s.add_argument("--train-seconds", type=float, default=300.0, help="length of the training block (s)")
    s.add_argument("--test-seconds", type=float, default=10.0, help="length of one test repeat (s)")
    s.add_argument("--repeats", type=int, default=5, help="repeats of the test segment")
    s.add_argument("--stimulus", choices=("white_noise", "natural"), default="white_noise", help="stimulus class")
    s.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    s.set_defaults(func=cmd_simulate)

    s = parser("fit", "fit the 3-layer CNN to a recording",
               "Fit the Baccus-lab 3-layer CNN to the training block; checkpoints atomically to --out at every "
               "epoch. The kernel sizes are chosen from the stimulus size (full field: a temporal-only model; "
               "small fields: smaller kernels; 40x40 px or more: the published 15 and 11) unless given, with a "
               "space-time separable layer 1 that learns faster (--preset default: the published layer). "
               "Under `torchrun --nproc-per-node N -m retinacodec fit ...` the N processes train one model "
               "(each global batch split between them).")
    s.add_argument("--out", required=True, help="model checkpoint to write (.pt)")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists (without --resume)")
    s.add_argument("--preset", default="auto", choices=("auto", "sample", "default", "stacked", "separable"),
                   help="architecture: auto (kernels from the stimulus size, a space-time separable layer 1 "
                        "unless full field), sample (9, 7), default (published 15, 11), stacked (15, 11 as stacks "
                        "of 3x3), separable (15, 11 with a space-time separable layer 1)")
    s.add_argument("--kernels", type=int, nargs="+", metavar="K", help="kernel size of each hidden layer (pixels)")
    s.add_argument("--channels", type=int, nargs="+", metavar="C", help="channels of each hidden layer")
    s.add_argument("--history", type=int, default=40, help="stimulus frames the model sees before each bin")
    s.add_argument("--epochs", type=int, default=40, help="most passes over the training data (early stopping)")
    s.add_argument("--batch-size", type=int, default=512, help="stimulus windows per gradient step")
    s.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate")
    s.add_argument("--max-minutes", type=float, default=None, help="stop after this much time")
    s.add_argument("--ema-decay", type=_ema_decay, default="auto", metavar="D",
                   help="keep, validate and return a moving average of the weights with this decay per step "
                        "(e.g. 0.99), or none for the raw weights as the published fits do; auto (default): "
                        "0.99, except none for the published presets and for fits of fewer than 500 steps")
    s.add_argument("--resume", action="store_true", help="continue an interrupted fit from --out")
    s.add_argument("--seed", type=int, default=0, help="seeds initialisation, batches and the validation split")
    _model_recording_args(s, model=False)
    s.set_defaults(func=cmd_fit)

    s = parser("evaluate", "score a fitted model on a recording's test repeats",
               "Per-cell r with the trial average, FEVE, and r with the true rate when the simulator's truth is "
               "available. The recording is read with the crop / downsample / bin width the model was fitted "
               "with unless given.")
    s.add_argument("--truth", help="simulator truth NetCDF (default: <recording>_truth.nc if present)")
    s.add_argument("--figure", help="also save predicted vs recorded traces (.png/.svg/.pdf)")
    s.add_argument("--overwrite", action="store_true", help="replace --figure if it exists")
    s.add_argument("--json", action="store_true", help="print JSON (missing values as null) instead of a table")
    s.add_argument("--baseline", choices=("ln",), default=None,
                   help="also score a classic LN model (STA filter + binned nonlinearity, fitted on the CNN's "
                        "training frames) on the same frames: columns ln_r (ln_feve, ln_r_truth), JSON ln_median_r")
    _model_recording_args(s)
    s.set_defaults(func=cmd_evaluate)

    s = parser("contributions", "contributions of hidden units to each cell, over the test frames",
               "Integrated-gradient contributions (conductance) of the units of hidden layers "
               "to each cell's predicted rate, for every held-out frame (test repeat 0 by default); streamed "
               "to a NetCDF file.")
    s.add_argument("--layers", nargs="+", default=["layer1", "layer2"], help="layer names")
    s.add_argument("--out", required=True, help="NetCDF file to write (.nc)")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    s.add_argument("--target", default="all", help="all (each cell), sum, or a cell index")
    s.add_argument("--method", choices=("integrated_gradients", "activation_x_gradient"),
                   default="integrated_gradients", help="attribution method")
    s.add_argument("--steps", type=int, default=20, help="integrated-gradient steps")
    s.add_argument("--rule", choices=("trapezoid", "left", "right"), default="trapezoid",
                   help="quadrature rule of the integrated gradients")
    s.add_argument("--no-smooth-output", action="store_true",
                   help="plain trapezoid rule at the output: do not integrate the final Softplus exactly")
    s.add_argument("--no-kink-correction", action="store_true",
                   help="plain trapezoid rule: do not integrate downstream ReLU switching points exactly")
    s.add_argument("--reduce", choices=("space",), default=None, help="sum over space, keeping channels")
    s.add_argument("--split-sign", action="store_true", help="split each unit's contribution by sign first")
    _frames_flag(s)
    s.add_argument("--chunk-size", type=int, default=256, help="frames per chunk")
    s.add_argument("--max-memory-gb", type=float, default=2.0, help="memory budget of one pass (GiB)")
    _model_recording_args(s)
    s.set_defaults(func=cmd_contributions)

    s = parser("rf", "receptive fields: the recording's STA and the model's instantaneous RFs",
               "The spike-triggered average of every cell (streamed over the training block, with the LN model's "
               "binned nonlinearity; NetCDF group 'sta') and the model's instantaneous receptive fields, the "
               "gradient of each cell's rate with respect to its stimulus window at every test frame, rank-1 "
               "parts by default (the full IRFs of the sample are ~0.5 GB); streamed to a NetCDF file.")
    s.add_argument("--out", required=True, help="NetCDF file to write (.nc)")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    _frames_flag(s)
    s.add_argument("--cells", type=int, nargs="+", default=None, help="cell ids (default: all)")
    s.add_argument("--method", choices=("gradient", "integrated_gradients"), default="gradient",
                   help="the local gradient, or integrated gradients from the mean-luminance window")
    s.add_argument("--steps", type=int, default=20, help="integrated-gradient steps")
    s.add_argument("--irf-crop", type=int, default=None, metavar="N",
                   help="keep an N x N window of the IRFs around each cell's peak (the official display: 20)")
    s.add_argument("--full", action="store_true", help="keep the full IRFs instead of their rank-1 parts")
    s.add_argument("--no-sta", action="store_true", help="skip the spike-triggered average")
    s.add_argument("--sta-block", choices=("train", "test", "other"), default="train",
                   help="frames the STA averages over")
    s.add_argument("--max-memory-gb", type=float, default=1.0, help="memory budget of one pass (GiB)")
    s.add_argument("--nwb-out", metavar="FILE",
                   help="also write the STAs and their fits into a copy of the recording's NWB file, table "
                        "'receptive_fields' of processing module 'ecephys' (FILE may be the recording itself: "
                        "replaced atomically)")
    _model_recording_args(s)
    s.set_defaults(func=cmd_rf)

    s = parser("decompose", help="contribution modes (CODEC): SAE on contributions, loadings over time",
               description="CODEC: the contributions of hidden layers (split by sign, summed over space) decomposed "
                           "by one sparse autoencoder per layer into modes, with their loadings over the test frames; "
                           "written to a NetCDF file. With no options this is preset 'codec': integrated-gradient "
                           "contributions to each cell's generator signal (they add up), a BatchTopK SAE, per-cell "
                           "and population loadings. 'paper' is the published retina run parameter for parameter "
                           "(it keeps no mode on small recordings); 'paper_open' is that run with codes opened at "
                           "the start and the official number of optimiser steps; 'cells' and 'local' are earlier "
                           "per-cell variants. Options override the preset.")
    s.add_argument("--out", required=True, help="NetCDF file to write (.nc)")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    s.add_argument("--layers", nargs="+", default=["layer1", "layer2"],
                   help="one SAE per entry; 'layer1+layer2' concatenates layers")
    s.add_argument("--preset", choices=tuple(CODEC_PRESETS), default=DEFAULT_CODEC_PRESET,
                   help="starting settings (see `help(retinacodec.codec.presets)`)")
    s.add_argument("--frames", type=int, nargs=2, metavar=("START", "STOP"), default=None,
                   help="analysed frames START..STOP-1, whose loadings are written (default: test repeat 0)")
    s.add_argument("--fit-frames", dest="fit_frames", type=int, nargs=2, metavar=("START", "STOP"), default=None,
                   help="frames START..STOP-1 the SAEs learn from, overriding --fit-on (default: from the preset)")
    s.add_argument("--source", choices=("contributions", "activations"), default=None,
                   help="decompose contributions or pre-nonlinearity activations (default: from the preset)")
    s.add_argument("--target", choices=("surprisal", "cell", "sum"), default=None,
                   help="what contributions explain: the population surprisal, each cell, or the summed rate "
                        "(default: from the preset)")
    s.add_argument("--output", choices=("rate", "generator"), default=None,
                   help="explain the rate (after the Softplus) or the generator signal (default: from the preset)")
    s.add_argument("--method", choices=("integrated_gradients", "activation_x_gradient"), default=None,
                   help="attribution method (default: from the preset)")
    s.add_argument("--steps", type=int, default=None, help="integrated-gradient steps (default: from the preset)")
    s.add_argument("--rule", choices=("trapezoid", "left", "right"), default=None,
                   help="integrated-gradient quadrature rule (default: from the preset)")
    s.add_argument("--sae", choices=("codec", "topk", "batchtopk", "relu"), default=None,
                   help="SAE kind (default: from the preset)")
    s.add_argument("--k", type=int, default=None,
                   help="active modes per sample, topk (exactly) / batchtopk (on average) (default: preset)")
    s.add_argument("--expansion", default=None,
                   help="modes per input feature, or 'default' for the SAE's own (default: from the preset)")
    s.add_argument("--fit-on", dest="fit_on", choices=("analysed", "train"), default=None,
                   help="train the SAEs on the analysed test frames or on training frames (default: preset)")
    s.add_argument("--n-fit-frames", dest="n_fit_frames", type=int, default=None,
                   help="training-block frames the SAEs learn from with --fit-on train (default: preset)")
    s.add_argument("--reference", choices=("train", "analysed"), default=None,
                   help="frames whose rates give the surprisal's mean and covariance (default: preset)")
    s.add_argument("--n-reference-frames", dest="n_reference_frames", type=int, default=None,
                   help="training frames for the surprisal's mean and covariance (default: preset)")
    s.add_argument("--surprisal-ridge", dest="surprisal_ridge", type=float, default=None,
                   help="ridge added to the surprisal's covariance, relative to its mean variance (default: preset)")
    s.add_argument("--n-init", dest="n_init", type=int, default=None,
                   help="SAE restarts; the one that reconstructs held-out samples best is kept (default: preset)")
    s.add_argument("--max-epochs", dest="max_epochs", type=int, default=None,
                   help="most SAE training epochs (default: the SAE's own)")
    s.add_argument("--lr", type=float, default=None, help="SAE learning rate (default: the SAE's own)")
    s.add_argument("--open-fraction", dest="open_fraction", type=float, default=None,
                   help="CODEC SAE: share of codes above the threshold at the start, e.g. 0.05 (default: preset)")
    s.add_argument("--n-steps", dest="n_steps", type=int, default=None,
                   help="CODEC SAE: optimiser steps instead of epochs (default: preset)")
    s.add_argument("--threshold", type=float, default=None,
                   help="CODEC SAE: code threshold of the sigmoid (default: 0.9)")
    s.add_argument("--seed", type=int, default=0, help="random seed of the SAEs and of the training-frame subset")
    _model_recording_args(s)
    s.set_defaults(func=cmd_decompose)

    s = parser("convert", "convert a torch-deep-retina or openretina file to NWB (or a tdr model to ours)",
               "Convert a recording in a lab HDF5 layout -- torch-deep-retina's <expt>/<stimulus>.h5 "
               "(train/stimulus, train/response/binned, test/repeats) or an openretina data folder "
               "(stimuli/*.npy + <session>.h5 with responses_<stimulus>) -- to an NWB file, or a "
               "torch-deep-retina BNCNN checkpoint (.pt) to a retinacodec checkpoint.")
    s.add_argument("source", metavar="IN", help="torch-deep-retina .h5, openretina folder or session file, or .pt")
    s.add_argument("out", metavar="OUT", help="NWB file to write (.nwb), or .pt for a checkpoint")
    s.add_argument("--format", choices=("auto", "tdr", "openretina"), default="auto", help="layout of IN")
    s.add_argument("--frame-rate", type=float, metavar="HZ",
                   help="frames per second (needed for openretina; tdr files without train/time)")
    s.add_argument("--pixel-size-um", type=float, metavar="UM", help="stimulus pixel size on the retina in um")
    s.add_argument("--test-stimuli", nargs="+", metavar="NAME",
                   help="openretina: stimulus names forming the test block, each a repeat of one movie")
    s.add_argument("--session", help="openretina: session (file stem) when the folder has several")
    s.add_argument("--channel", type=int, help="openretina: colour channel to keep when the stimuli have several")
    s.add_argument("--gap-s", type=float, default=1.0, help="pause placed between segments (s)")
    s.add_argument("--normalization", type=float, nargs=2, metavar=("MEAN", "STD"),
                   help="checkpoint: stimulus z-scoring statistics when the checkpoint has no norm_stats")
    s.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    s.set_defaults(func=cmd_convert)

    s = parser("figures", "draw every figure that saved results allow",
               "Draw figures from saved results: the mode atoms (ON / OFF modes marked when the simulator's truth "
               "is known), a mode's loading against the true drive it follows, the cell x mode correlation by "
               "cluster, the paper's retina figure (rate, contribution rasters, two modes; IRF insets with --irf); "
               "with --irf (from `retinacodec rf`, with its STA) the RF mosaic, STA vs mean IRF and the IRFs per "
               "mode set; with --recording the recording summary and predicted vs recorded rates. Prints each "
               "path; a figure its inputs cannot support is skipped with a one-line reason.")
    s.add_argument("modes", metavar="MODES", help="CODEC result from `retinacodec decompose --out` (.nc)")
    s.add_argument("--irf", metavar="IRF", help="instantaneous receptive fields (.nc) covering the analysed frames")
    s.add_argument("--recording", dest="nwb", metavar="REC", help="the NWB recording the modes were computed on")
    s.add_argument("--truth", help="simulator truth NetCDF (default: <recording>_truth.nc if present)")
    s.add_argument("--out", required=True, help="folder for the figures")
    s.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="figure file format")
    s.add_argument("--overwrite", action="store_true", help="replace figures that exist in --out")
    _reader_args(s)
    s.set_defaults(func=cmd_figures)

    s = parser("phenomena", "retinal phenomena: a model's in-silico experiments beside the simulator's",
               "Run the classic experiments (step, paired flash, omitted stimulus response over a sweep of "
               "periods, latency coding, motion anticipation and reversal, contrast adaptation with LN fits) on "
               "MODEL and on the simulated circuit it was fitted to (--truth, or found from the model's recording), "
               "writes one NetCDF file and one figure (PNG and PDF) per experiment and the table of measures "
               "(text and JSON) to --out, and prints each path.")
    s.add_argument("model", metavar="MODEL", help="fitted model checkpoint (.pt)")
    s.add_argument("--out", required=True, help="folder for the results")
    s.add_argument("--overwrite", action="store_true", help="replace files in --out if it is not empty")
    which = s.add_mutually_exclusive_group()
    which.add_argument("--truth", metavar="TRUTH", help="simulator truth (.nc) of the recording MODEL was fitted to "
                       "(default: the one beside that recording, or the shipped sample's)")
    which.add_argument("--recording", dest="nwb", metavar="REC",
                       help="the simulated recording MODEL was fitted to; its <stem>_truth.nc is used")
    which.add_argument("--reference", action="store_true",
                       help="compare with the reference phenomena retina (3 cells, 12 x 12), not the model's circuit")
    s.set_defaults(func=cmd_phenomena)

    s = parser("demo", help="the main job on the shipped sample",
                       description="Summarise the shipped sample, fit a model to it, evaluate it, and "
                                   "decompose it into contribution modes checked against the simulator's truth.")
    s.add_argument("--out", default="demo_out", help="folder for the outputs")
    s.add_argument("--epochs", type=int, default=15, help="most epochs of the fit (15: as the shipped sample model)")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.add_argument("--quick", action="store_true",
                   help=f"seconds, not minutes: a fit of at most one epoch and {QUICK_DEMO_MINUTES * 60:.0f} s, the "
                        "evaluation and two figures (sample_summary, prediction); checks an installation")
    s.set_defaults(func=cmd_demo)
    return p


def _prepare_outputs(args: argparse.Namespace) -> None:
    """One rule for every command that writes: create missing folders, refuse to replace a file without --overwrite."""
    out = {"simulate": args.__dict__.get("out"), "fit": args.__dict__.get("out"),
           "evaluate": args.__dict__.get("figure"), "contributions": args.__dict__.get("out"),
           "decompose": args.__dict__.get("out"), "convert": args.__dict__.get("out"),
           "rf": args.__dict__.get("out")}.get(args.command)
    if args.command == "demo":
        Path(args.out).mkdir(parents=True, exist_ok=True)
    if out is None:
        return
    out = Path(out)
    if out.exists() and not args.overwrite and not getattr(args, "resume", False):
        raise FileExistsError(f"{out} already exists; pass --overwrite to replace it.")
    out.parent.mkdir(parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _fmt_warning
    if not sys.stdout.isatty() and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # logs show each line as it happens
    try:
        if "recording" in args:
            args.recording = _RecordingArg.of(args)
        _prepare_outputs(args)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("retinacodec: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"retinacodec: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
