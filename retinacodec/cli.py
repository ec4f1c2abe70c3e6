"""The ``retinacodec`` command line. Orchestrates the Python API; imported by nothing.

Every subcommand has ``--help``. Errors a user can cause print one line on stderr and exit
with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

__all__ = ["main"]


def _fmt_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"retinacodec: warning: {message}\n"


def _read(path: str, stimulus: str | None = None):  # noqa: ANN202
    from retinacodec.io import read_nwb

    return read_nwb(path, stimulus=stimulus)


def _truth_for(nwb: Path, rec, truth: str | None):  # noqa: ANN001, ANN202
    """The simulator's truth: ``truth`` if given, else ``<stem>_truth.nc`` beside the NWB file, else None."""
    from retinacodec.simulate import load_truth

    path = Path(truth) if truth else nwb.with_name(f"{nwb.stem}_truth.nc")
    return load_truth(path, rec) if truth or path.exists() else None


def summarize(rec, series: list[str]) -> dict:  # noqa: ANN001
    """A JSON-ready summary of a Recording (what ``info`` prints).

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording.
    series : list of str
        Names of the stimulus series in the file it came from.
    """
    fps = float(rec.attrs["frame_rate_hz"])
    rep = rec["repeat"].values
    blocks = {b: int((rec["block"].values == b).sum()) for b in np.unique(rec["block"].values)}
    rates = rec["spikes"].values.mean(0) * fps
    return {
        "source_file": rec.attrs.get("source_file", ""),
        "session_id": rec.attrs.get("session_id", ""),
        "stimulus": rec.attrs.get("stimulus_name", ""),
        "stimulus_series": series,
        "cells": int(rec.sizes["cell"]),
        "frames": int(rec.sizes["frame"]),
        "frame_size_px": [int(rec.sizes["y"]), int(rec.sizes["x"])],
        "pixel_size_um": float(rec.attrs["pixel_size_um"]),
        "frame_rate_hz": fps,
        "duration_s": float(rec["time"].values[-1] - rec["time"].values[0] + 1.0 / fps),
        "frames_per_block": blocks,
        "test_repeats": int(len(np.unique(rep[rep >= 0]))),
        "mean_rate_hz": {str(int(c)): round(float(r), 3) for c, r in zip(rec["cell"].values, rates, strict=True)},
    }


def _print_summary(s: dict) -> None:
    print(f"file:        {s['source_file']}")
    print(f"session:     {s['session_id']}")
    print(f"stimulus:    {s['stimulus']} (series in file: {', '.join(map(str, s['stimulus_series']))})")
    print(f"frames:      {s['frames']} of {s['frame_size_px'][0]}x{s['frame_size_px'][1]} px "
          f"({s['pixel_size_um']:g} um/px) at {s['frame_rate_hz']:g} Hz = {s['duration_s']:.1f} s")
    print(f"blocks:      {', '.join(f'{k}: {v} frames' for k, v in s['frames_per_block'].items())}; "
          f"{s['test_repeats']} test repeats")
    rates = s["mean_rate_hz"]
    print(f"cells:       {s['cells']}, mean rate {np.mean(list(rates.values())):.1f} Hz "
          f"(range {min(rates.values()):.1f}-{max(rates.values()):.1f})")
    print("  " + "  ".join(f"{c}:{r:.1f}" for c, r in rates.items()))


def cmd_info(args: argparse.Namespace) -> int:
    from retinacodec.io import stimulus_names

    rec = _read(args.path, args.stimulus)
    s = summarize(rec, stimulus_names(args.path))
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        _print_summary(s)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from retinacodec.io import write_nwb
    from retinacodec.simulate import save_truth, simulate_retina

    out = Path(args.out)
    truth_path = out.with_name(f"{out.stem}_truth.nc")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} already exists; pass --overwrite to replace it.")
    rec, truth = simulate_retina(
        n_cells_per_type=args.cells_per_type, size=tuple(args.size), train_seconds=args.train_seconds,
        test_seconds=args.test_seconds, n_repeats=args.repeats, stimulus=args.stimulus, seed=args.seed,
    )
    write_nwb(rec, out, overwrite=True)
    save_truth(truth, truth_path)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {truth_path} "
          f"({truth_path.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from retinacodec.training import fit

    rec = _read(args.recording, args.stimulus)
    fit(rec, preset=args.preset, seed=args.seed, device=args.device, checkpoint=args.out,
        resume=args.resume, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        max_minutes=args.max_minutes)
    print(f"wrote {args.out}")
    return 0


def _evaluation_table(scores) -> str:  # noqa: ANN001
    cols = ["r", "feve", "reliability"] + (["r_truth"] if "r_truth" in scores else []) + ["mean_rate_hz"]
    lines = ["cell  " + "  ".join(f"{c:>12}" for c in cols)]
    for i, cid in enumerate(scores["cell"].values):
        lines.append(f"{int(cid):>4}  " + "  ".join(f"{float(scores[c].values[i]):>12.3f}" for c in cols))
    med = ["median"] + [f"{float(np.nanmedian(scores[c].values)):>12.3f}" for c in cols]
    lines.append(f"{med[0]:<6}" + "  ".join(med[1:]))
    lines.append(f"evaluated on: {scores.attrs['block']}, {scores.attrs['n_frames']} frames")
    return "\n".join(lines)


def _evaluate_and_report(model, rec, truth, as_json: bool, figure: str | None) -> None:  # noqa: ANN001
    from retinacodec.evaluation import evaluate

    scores = evaluate(model, rec, truth)
    if as_json:
        out = {k: [None if not np.isfinite(v) else float(v) for v in scores[k].values] for k in scores.data_vars}
        out["cell"] = [int(c) for c in scores["cell"].values]
        out.update({k: v for k, v in scores.attrs.items() if not isinstance(v, np.ndarray)})
        print(json.dumps(out, indent=2, default=float))
    else:
        print(_evaluation_table(scores))
    if figure:
        _prediction_figure(model, rec, truth, scores, figure)


def _prediction_figure(model, rec, truth, scores, path: str) -> None:  # noqa: ANN001
    from retinacodec.evaluation import predict
    from retinacodec.figures import plot_prediction, save_figure
    from retinacodec.recording import repeated_responses

    reps = repeated_responses(rec)
    first = int(reps.attrs["first_frame"][0])
    h = model.config.history
    frames = first + np.arange(h - 1, reps.sizes["frame"])
    pred = predict(model, rec, frames)
    fps = float(rec.attrs["frame_rate_hz"])
    recorded = pred.copy(data=reps.values[:, h - 1 :, :].mean(0) * fps)
    true_rate = pred.copy(data=truth["rate"].values[frames]) if truth is not None else None
    save_figure(plot_prediction(pred, recorded, scores, true_rate), path)
    print(f"wrote {path}", file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from retinacodec.checkpoint import load_model

    model = load_model(args.model, device=args.device)
    rec = _read(args.recording, args.stimulus)
    truth = _truth_for(Path(args.recording), rec, args.truth)
    _evaluate_and_report(model, rec, truth, args.json, args.figure)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from retinacodec.figures import plot_recording, save_figure
    from retinacodec.sample import load_sample, sample_paths
    from retinacodec.training import fit

    out = Path(args.out)
    from retinacodec.io import stimulus_names

    rec, truth = load_sample()
    print(f"== the shipped sample: {sample_paths()[0]}")
    _print_summary(summarize(rec, stimulus_names(sample_paths()[0])))
    print(f"wrote {save_figure(plot_recording(rec), out / 'sample_summary.png')}")
    print(f"\n== fitting the 3-layer CNN (preset 'sample', up to {args.epochs} epochs)")
    model = fit(rec, preset="sample", seed=args.seed, device=args.device, checkpoint=out / "model.pt",
                epochs=args.epochs)
    log = model.metadata["fit_log"]
    print(f"fitted in {log[-1]['seconds']:.0f} s, {len(log)} epochs; wrote {out / 'model.pt'}")
    print("\n== evaluation on the repeated test block")
    _evaluate_and_report(model, rec, truth, False, str(out / "prediction.png"))
    _demo_modes(model, rec, truth, out)
    return 0


def _demo_modes(model, rec, truth, out: Path) -> None:  # noqa: ANN001
    """The demo's CODEC step: contribution modes, and which ones follow the true ON / OFF pathways."""
    import xarray as xr

    from retinacodec.analyses import match_pathways
    from retinacodec.codec import decompose, save_modes
    from retinacodec.figures import plot_mode_atoms, save_figure

    print("\n== contribution modes (CODEC): one TopK SAE per layer on sign-split contributions")
    modes = decompose(model, rec, ["layer1", "layer2"])
    save_modes(modes, out / "modes.nc")
    save_figure(plot_mode_atoms(modes), out / "mode_atoms.png")
    print(f"wrote {out / 'modes.nc'} and {out / 'mode_atoms.png'}")
    for layer, r2, n in zip(modes["sae"].values, modes["r2"].values, modes["n_modes"].values, strict=True):
        print(f"  {layer}: {int(n)} modes, held-out R^2 {float(r2):.3f}")
    drives = xr.concat([truth["on_drive"], truth["off_drive"]], dim=xr.DataArray(["on", "off"], dims="pathway"))
    match = match_pathways(modes["loadings"], drives.sel(frame=modes["frame"].values))
    print("ON-OFF cells: the mode that best follows each true pathway drive (Pearson r over the test clip)")
    for cell in truth["cell"].values[truth["cell_type"].values == "ON-OFF"]:
        m = match.sel(cell=cell)
        print(f"  cell {int(cell)}: ON pathway -> mode {int(m['best_mode'].sel(pathway='on'))} "
              f"(r = {float(m['best_r'].sel(pathway='on')):.2f}), OFF pathway -> mode "
              f"{int(m['best_mode'].sel(pathway='off'))} (r = {float(m['best_r'].sel(pathway='off')):.2f})")


def cmd_contributions(args: argparse.Namespace) -> int:
    from retinacodec.attribution import contributions_for_recording
    from retinacodec.checkpoint import load_model

    model = load_model(args.model, device=args.device)
    rec = _read(args.recording, args.stimulus)
    target = int(args.target) if args.target.lstrip("-").isdigit() else args.target
    out = contributions_for_recording(
        model, rec, args.layers, out=args.out, chunk_size=args.chunk_size, target=target, method=args.method,
        steps=args.steps, rule=args.rule, reduce=args.reduce, split_sign=args.split_sign,
        max_memory_gb=args.max_memory_gb, kink_correction=not args.no_kink_correction,
    )
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_decompose(args: argparse.Namespace) -> int:
    from retinacodec.checkpoint import load_model
    from retinacodec.codec import decompose, save_modes

    model = load_model(args.model, device=args.device)
    rec = _read(args.recording, args.stimulus)
    ds = decompose(model, rec, args.layers, source=args.source, output=args.output, method=args.method,
                   steps=args.steps, n_fit_frames=args.fit_frames, sae=args.sae, k=args.k, expansion=args.expansion,
                   seed=args.seed, device=args.device)
    out = save_modes(ds, args.out)
    r2 = ", ".join(f"{s} R2={r:.3f}" for s, r in zip(ds["sae"].values, ds["r2"].values, strict=True))
    print(f"wrote {out}: {ds.sizes['mode']} modes ({r2})")
    return 0


def _model_recording_args(s: argparse.ArgumentParser, model: bool = True) -> None:
    """The positional MODEL and RECORDING arguments and --stimulus / --device shared by subcommands."""
    if model:
        s.add_argument("model", help="checkpoint from `retinacodec fit`")
    s.add_argument("recording", help="NWB file")
    s.add_argument("--stimulus", help="stimulus series name when the file has several")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")


def build_parser() -> argparse.ArgumentParser:
    from retinacodec import __version__

    p = argparse.ArgumentParser(prog="retinacodec", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"retinacodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("info", help="summarise an NWB recording", description="Summarise an NWB recording.")
    s.add_argument("path", help="NWB file")
    s.add_argument("--stimulus", help="name of the stimulus series when the file has several")
    s.add_argument("--json", action="store_true", help="print JSON instead of text")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("simulate", help="simulate a ground-truth retina recording to NWB",
                       description="Simulate a recording from the ground-truth retina; writes OUT.nwb and "
                                   "OUT_truth.nc (cell types, pathway drives, noise-free rates).")
    s.add_argument("out", help="output NWB file")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=int, nargs=2, default=(20, 20), metavar=("NY", "NX"), help="pixels")
    s.add_argument("--cells-per-type", type=int, default=3, help="ON, OFF and ON-OFF cells each")
    s.add_argument("--train-seconds", type=float, default=300.0)
    s.add_argument("--test-seconds", type=float, default=10.0)
    s.add_argument("--repeats", type=int, default=5, help="repeats of the test segment")
    s.add_argument("--stimulus", choices=("white_noise", "natural"), default="white_noise")
    s.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("fit", help="fit the 3-layer CNN to a recording",
                       description="Fit the Baccus-lab 3-layer CNN; checkpoints atomically to --out.")
    s.add_argument("--out", required=True, help="model checkpoint to write (.pt)")
    s.add_argument("--preset", default="sample", help="architecture preset: sample, default, stacked")
    s.add_argument("--epochs", type=int, default=40)
    s.add_argument("--batch-size", type=int, default=512)
    s.add_argument("--lr", type=float, default=5e-3)
    s.add_argument("--max-minutes", type=float, default=None, help="stop after this much time")
    s.add_argument("--resume", action="store_true", help="continue an interrupted fit from --out")
    s.add_argument("--seed", type=int, default=0)
    _model_recording_args(s, model=False)
    s.set_defaults(func=cmd_fit)

    s = sub.add_parser("evaluate", help="score a fitted model on a recording's test repeats",
                       description="Per-cell r with the trial average, FEVE, and r with the true rate when "
                                   "the simulator's truth is available.")
    s.add_argument("--truth", help="simulator truth NetCDF (default: <recording>_truth.nc if present)")
    s.add_argument("--figure", help="also save predicted vs recorded traces (.png/.svg/.pdf)")
    s.add_argument("--json", action="store_true")
    _model_recording_args(s)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("contributions", help="contributions of hidden units to each cell, over the test frames",
                       description="Integrated-gradient contributions (conductance) of the units of hidden layers "
                                   "to each cell's predicted rate, for every frame of test repeat 0; streamed "
                                   "to a NetCDF file.")
    s.add_argument("--layers", nargs="+", default=["layer1", "layer2"], help="layer names (default: layer1 layer2)")
    s.add_argument("--out", required=True, help="NetCDF file to write (.nc)")
    s.add_argument("--target", default="all", help="all (each cell), sum, or a cell index")
    s.add_argument("--method", choices=("integrated_gradients", "activation_x_gradient"),
                   default="integrated_gradients")
    s.add_argument("--steps", type=int, default=20)
    s.add_argument("--rule", choices=("trapezoid", "left", "right"), default="trapezoid")
    s.add_argument("--no-kink-correction", action="store_true",
                   help="plain trapezoid rule: do not integrate downstream ReLU switching points exactly")
    s.add_argument("--reduce", choices=("space",), default=None, help="sum over space, keeping channels")
    s.add_argument("--split-sign", action="store_true", help="split each unit's contribution by sign first")
    s.add_argument("--chunk-size", type=int, default=256, help="frames per chunk")
    s.add_argument("--max-memory-gb", type=float, default=2.0, help="memory budget of one pass (GiB)")
    _model_recording_args(s)
    s.set_defaults(func=cmd_contributions)

    s = sub.add_parser("decompose", help="contribution modes (CODEC): SAE on contributions, loadings over time",
                       description="Contributions of hidden layers to each cell (split by sign, summed over space), "
                                   "one sparse autoencoder per layer trained on training-block frames, modes and "
                                   "their loadings on test repeat 0; written to a NetCDF file.")
    s.add_argument("--out", required=True, help="NetCDF file to write (.nc)")
    s.add_argument("--layers", nargs="+", default=["layer1", "layer2"],
                   help="one SAE per entry; 'layer1+layer2' concatenates layers (default: layer1 layer2)")
    s.add_argument("--source", choices=("contributions", "activations"), default="contributions")
    s.add_argument("--output", choices=("generator", "rate"), default="generator",
                   help="explain each cell's pre-Softplus generator or its rate")
    s.add_argument("--method", choices=("activation_x_gradient", "integrated_gradients"),
                   default="activation_x_gradient")
    s.add_argument("--steps", type=int, default=20, help="integrated-gradient steps")
    s.add_argument("--fit-frames", type=int, default=4000, help="training-block frames the SAEs learn from")
    s.add_argument("--sae", choices=("topk", "batchtopk", "relu", "codec"), default="topk")
    s.add_argument("--k", type=int, default=3, help="active modes per sample (topk, batchtopk)")
    s.add_argument("--expansion", type=float, default=2.0, help="modes per input feature")
    s.add_argument("--seed", type=int, default=0)
    _model_recording_args(s)
    s.set_defaults(func=cmd_decompose)

    s = sub.add_parser("demo", help="the main job on the shipped sample",
                       description="Summarise the shipped sample, fit a model to it, evaluate it, and "
                                   "decompose it into contribution modes checked against the simulator's truth.")
    s.add_argument("--out", default="demo_out", help="folder for the outputs")
    s.add_argument("--epochs", type=int, default=40)
    s.add_argument("--device", default="cpu")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _fmt_warning
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("retinacodec: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"retinacodec: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
