"""Fit openretina's core-readout model with openretina's own training code, and ours, to the same recordings.

Peer: openretina 1.1.1 (PyPI), installed in a separate virtual environment (never a dependency of
retinacodec): ``bash benchmarks/setup_openretina_env.sh`` (see benchmarks/README.md). This script runs
in retinacodec's environment, prepares each recording, fits our BNCNN, then re-launches itself with the
benchmark environment's Python for the openretina side (``--openretina-side``), which imports only
numpy, torch and openretina. Both sides get the same training frames, a time budget each (``--minutes``;
``--our-minutes`` for ours, by default the same) and the same number of torch threads; both are scored
here, by the same code, on the same test frames.

openretina side, as its own training script (``openretina/cli/train.py``) does it with the
Maheswaranathan-2023 configuration (``configs/maheswaranathan_2023_core_readout.yaml`` and the
``base_core_readout``, ``adamw``, ``reduce_lr_on_plateau``, ``early_stopping`` configs it composes):
movies z-scored by ``normalize_train_test_movies``; ``multiple_movies_dataloaders`` (chunks of 50,
batch 64, 90-frame clips, 20 validation clips); ``UnifiedCoreReadout`` (separable 3-D convolution core,
temporal kernels 21/11, Gaussian-mask readout, L1-Poisson loss); Lightning ``Trainer`` with gradient
clipping 1, early stopping on validation correlation (patience 10), the best validation checkpoint
kept. Spatial kernels: 15/11 and 16/32 channels on 50×50 (that configuration); the base config's 11/5
and 16/16 on the 20×20 sample, where 15/11 does not fit.

Scores (per cell, median printed), on every test frame both models predict (frames with a full history):
  r_truth  Pearson r of the prediction with the simulator's noise-free rate (``truth["rate"]``)
  r_avg    Pearson r with the trial-averaged recorded response
  FEVE     fraction of explainable variance explained (retinacodec.model.metrics.feve)
Wall time is the fit alone (data preparation excluded on both sides); parameters are trainable ones.

Half the time: ours also prints, per epoch, r_truth of the model it would return if stopped there
(the best validated so far) and the wall time by then (the scoring itself left out; it still counts
against our budget). The last line per dataset compares ours by half of openretina's wall time with
openretina at the end of its budget — issue 23's "at least as accurate in at most half the time".

Usage: python benchmarks/bench_fit_vs_openretina.py [--datasets sample sim50] [--minutes 6] [--our-minutes M]
       [--published] [--ema-decay D [--ema-minutes M]] [--threads 1] [--sim-train-seconds 150]
       [--sim-stimulus white_noise|natural] [--cache DIR]

Ours is fitted with ``fit``'s defaults: ``preset="auto"`` (a space–time separable layer 1 on
spatial frames) and ``ema_decay="auto"`` (a moving average of the weights, decay 0.99).
``--published`` adds a row with the published recipe (``preset="default"``, or ``"sample"`` on
20×20 frames, trained without the average); ``--ema-decay D`` a row with ``fit(..., ema_decay=D)``.

The 50×50 recordings are ``simulate_retina(size=(50, 50), train_seconds=..., test_seconds=10,
n_repeats=5, seed=...)``, simulated once and cached in ``--cache`` (``sim_cache.py``). Issue 23's
are 30 min long (``--sim-train-seconds 1800``); on 150 s of 50×50 white noise neither model learns
anything in a few minutes (r ≈ 0 for both when last run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sim_cache import cached_sim50

HERE = Path(__file__).resolve().parent
DEFAULT_PYTHON = HERE / ".venv" / "bin" / "python"
CONTEXT_FRAMES = 40  # the test frames both models skip: our 40-frame history; openretina needs 31


# ------------------------------------------------------------------ retinacodec side (our venv)


def _recording(name: str, seed: int, train_seconds: float, stimulus: str, cache: Path):  # noqa: ANN202
    """(Recording, truth) of one benchmark dataset."""
    import retinacodec as rc

    if name == "sample":
        return rc.load_sample()
    if name == "sim50":
        return cached_sim50(stimulus, train_seconds, seed, cache)
    raise SystemExit(f"unknown dataset {name!r}; choose sample or sim50.")


def _export(rec, truth, path: Path) -> dict:  # noqa: ANN001
    """Write what the openretina side needs (train block; test repeat 0's movie; repeats; true rate) to ``path``."""
    from retinacodec.recording import block_frames, repeated_responses

    train = block_frames(rec, "train")
    reps = repeated_responses(rec)
    first = np.asarray(reps.attrs["first_frame"])
    test = first[0] + np.arange(reps.sizes["frame"])
    arrays = {
        "train_stimulus": rec["stimulus"].values[train],
        "train_spikes": rec["spikes"].values[train].astype(np.float32),
        "test_stimulus": rec["stimulus"].values[test],
        "test_repeats": reps.values.astype(np.float32),  # (repeat, frame, cell) counts
        "frame_rate_hz": np.float64(rec.attrs["frame_rate_hz"]),
    }
    np.savez(path, **arrays)
    return {"test_frames": test, "repeats": reps.values, "true_rate": truth["rate"].values[test]}


def _fit_ours(rec, minutes: float, seed: int, ema_decay: float | str | None, preset: str,  # noqa: ANN001
              test: dict) -> tuple[object, float, list[tuple[float, float]]]:
    """Fit ours; return the model, the fit's wall time and its trace.

    The trace has one (seconds, r_truth) per epoch: the median r with the true rate of the model
    the fit would return if stopped after that epoch (the best validated so far), on the scored
    test frames, and the fit's wall time up to then. The scoring's own time is left out of both
    the trace's seconds and the returned wall time (it still counts against the fit's budget,
    so the fit is, if anything, handicapped by it).
    """
    from retinacodec.model.training import fit, predict_targets
    from retinacodec.model.windows import WindowedData

    fps = float(rec.attrs["frame_rate_hz"])
    windows = WindowedData(rec, CONTEXT_FRAMES)  # normalised as the fit normalises (the training block's statistics)
    trace: list[tuple[float, float]] = []
    scoring = [0.0]  # seconds spent scoring so far

    def on_epoch(model, entry: dict) -> None:  # noqa: ANN001
        begun = time.perf_counter()
        if entry["improved"] or not trace:
            pred = predict_targets(model, windows, test["test_frames"][CONTEXT_FRAMES - 1 :]) * fps
            pred = np.concatenate([np.full((CONTEXT_FRAMES - 1, pred.shape[1]), np.nan), pred])
            r = _scores(pred, test, fps)["r_truth"]
        else:
            r = trace[-1][1]
        trace.append((begun - start - scoring[0], r))
        scoring[0] += time.perf_counter() - begun

    start = time.perf_counter()
    model = fit(rec, preset=preset, seed=seed, max_minutes=minutes, progress="log", ema_decay=ema_decay,
                on_epoch=on_epoch)
    return model, time.perf_counter() - start - scoring[0], trace


def _by(trace: list[tuple[float, float]], seconds: float) -> tuple[float, float]:
    """(seconds, r_truth) of the last epoch of ``trace`` ended within ``seconds``; NaNs when none was."""
    within = [point for point in trace if point[0] <= seconds]
    return within[-1] if within else (float("nan"), float("nan"))


def _scores(pred_hz: np.ndarray, test: dict, fps: float) -> dict:
    """Median r with the true rate, r with the trial average and FEVE over the scored test frames."""
    from retinacodec.model.metrics import feve, pearson_per_cell

    keep = slice(CONTEXT_FRAMES - 1, None)
    pred = pred_hz[keep]
    reps = test["repeats"][:, keep].astype(np.float64) * fps
    return {
        "r_truth": float(np.nanmedian(pearson_per_cell(pred, test["true_rate"][keep]))),
        "r_avg": float(np.nanmedian(pearson_per_cell(pred, reps.mean(0)))),
        "feve": float(np.nanmedian(feve(pred, reps))),
    }


def run_benchmark(args: argparse.Namespace) -> None:
    import torch

    from retinacodec.model.evaluation import predict

    torch.set_num_threads(args.threads)
    python = Path(args.openretina_python)
    if not python.exists():
        raise SystemExit(f"no openretina environment at {python}; run `bash benchmarks/setup_openretina_env.sh`.")
    rows: list[tuple] = []
    halves: list[str] = []
    for name in args.datasets:
        rec, truth = _recording(name, args.seed, args.sim_train_seconds, args.sim_stimulus, args.cache)
        fps = float(rec.attrs["frame_rate_hz"])
        print(f"== {name}: {rec.sizes['frame']} frames of {rec.sizes['y']}x{rec.sizes['x']} px, "
              f"{rec.sizes['cell']} cells, {fps:g} Hz", flush=True)
        first = len(rows)
        ours = [("retinacodec BNCNN, defaults", args.our_minutes or args.minutes, "auto", "auto")]
        if args.published:
            ours.append(("retinacodec BNCNN, published recipe", args.our_minutes or args.minutes, None, "default"))
        if args.ema_decay is not None:
            ours.append((f"retinacodec BNCNN, EMA {args.ema_decay:g}", args.ema_minutes or args.our_minutes
                         or args.minutes, args.ema_decay, "auto"))
        traces = []
        with tempfile.TemporaryDirectory() as tmp:
            data, out = Path(tmp) / "data.npz", Path(tmp) / "openretina.npz"
            test = _export(rec, truth, data)
            for label, minutes, ema_decay, preset in ours:
                if preset == "default" and min(rec.sizes["y"], rec.sizes["x"]) < 40:
                    preset = "sample"  # the published layer at 20x20 px
                model, seconds, trace = _fit_ours(rec, minutes, args.seed, ema_decay, preset, test)
                pred = predict(model, rec, test["test_frames"][CONTEXT_FRAMES - 1 :]).values
                pred = np.concatenate([np.full((CONTEXT_FRAMES - 1, pred.shape[1]), np.nan), pred])
                n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
                rows.append((name, label, seconds, n_params, _scores(pred, test, fps)))
                traces.append((label, trace))
                print(f"   {label}: {seconds:.0f} s, {len(model.metadata['fit_log'])} epochs; r_truth by epoch end: "
                      + ", ".join(f"{r:.3f} at {t:.0f} s" for t, r in trace), flush=True)
            del model
            cmd = [str(python), __file__, "--openretina-side", str(data), str(out), "--minutes", str(args.minutes),
                   "--threads", str(args.threads), "--seed", str(args.seed)]
            subprocess.run(cmd, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            peer = np.load(out)
            peer_seconds = float(peer["seconds"])
            rows.append((name, "openretina 1.1.1 core-readout", peer_seconds, int(peer["n_params"]),
                         _scores(peer["prediction"] * fps, test, fps)))
            print(f"   openretina: {peer_seconds:.0f} s, {int(peer['epochs'])} epochs", flush=True)
        print("\n".join(_table(rows[first:])), flush=True)
        peer_r = rows[-1][4]["r_truth"]
        for label, trace in traces:
            seconds, r = _by(trace, peer_seconds / 2)
            verdict = "as accurate in half the time" if r >= peer_r else "NOT as accurate in half the time"
            halves.append(f"{name:<8} {label}: r_truth {r:.3f} by {seconds:.0f} s, within half openretina's "
                          f"{peer_seconds:.0f} s (openretina {peer_r:.3f}): {verdict}")
        print("\n".join(halves[-len(traces):]), flush=True)
    ema = (f", with EMA {args.ema_minutes or args.our_minutes or args.minutes:g} min"
           if args.ema_decay is not None else "")
    print(f"\nfit budget: openretina {args.minutes:g} min, retinacodec {args.our_minutes or args.minutes:g} min{ema}; "
          f"torch threads {args.threads}; medians over cells")
    print("\n".join(_table(rows)))
    print("\n".join(halves))


def _table(rows: list[tuple]) -> list[str]:
    """The result lines: one per (dataset, model)."""
    lines = [f"{'dataset':<8} {'model':<34} {'r_truth':>8} {'r_avg':>7} {'FEVE':>6} {'wall s':>7} {'params':>8}"]
    for name, model_name, seconds, n_params, s in rows:
        lines.append(f"{name:<8} {model_name:<34} {s['r_truth']:>8.3f} {s['r_avg']:>7.3f} {s['feve']:>6.3f} "
                     f"{seconds:>7.0f} {n_params:>8d}")
    return lines


# ------------------------------------------------------------------ openretina side (benchmark venv)


def openretina_side(data_path: str, out_path: str, minutes: float, threads: int, seed: int) -> None:
    """Fit openretina's UnifiedCoreReadout with openretina's data loaders and Lightning training; save predictions."""
    import lightning
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from omegaconf import OmegaConf
    from openretina.data_io.base import (
        MoviesTrainTestSplit,
        ResponsesTrainTestSplit,
        compute_data_info,
        normalize_train_test_movies,
    )
    from openretina.data_io.base_dataloader import multiple_movies_dataloaders
    from openretina.data_io.cyclers import LongCycler, ShortCycler
    from openretina.models.core_readout import UnifiedCoreReadout

    torch.set_num_threads(threads)
    d = np.load(data_path)
    train_movie, test_movie, norm = normalize_train_test_movies(d["train_stimulus"][None], d["test_stimulus"][None])
    movies = {"session": MoviesTrainTestSplit(train=train_movie, test=test_movie, norm_mean=norm["norm_mean"],
                                              norm_std=norm["norm_std"])}
    reps = np.transpose(d["test_repeats"], (0, 2, 1))  # (repeat, neuron, time)
    responses = {"session": ResponsesTrainTestSplit(train=d["train_spikes"].T, test=reps.mean(0),
                                                    test_by_trial=reps)}
    loaders = multiple_movies_dataloaders(responses, movies, train_chunk_size=50, batch_size=64, seed=42,
                                          clip_length=90, num_val_clips=20, allow_over_boundaries=True)
    data_info = compute_data_info(responses, movies)
    ny, nx = d["train_stimulus"].shape[1:]
    big = min(ny, nx) >= 40
    core = {
        "_target_": "openretina.modules.core.base_core.SimpleCoreWrapper", "_convert_": "object",
        "gamma_input": 0.0, "gamma_hidden": 0.0, "gamma_in_sparse": 0.0, "gamma_temporal": 40.0,
        "input_padding": 0, "hidden_padding": [0, 2, 2], "convolution_type": "custom_separable",
        "temporal_kernel_sizes": [21, 11], "spatial_kernel_sizes": [15, 11] if big else [11, 5],
        "cut_first_n_frames": 0, "dropout_rate": 0.0, "maxpool_every_n_layers": None,
        "downsample_input_kernel_size": None, "color_squashing_weights": None, "channels": None,
    }
    readout = {
        "_target_": "openretina.modules.readout.multi_readout.MultiGaussianMaskReadout", "_convert_": "object",
        "scale": True, "bias": True, "gaussian_mean_scale": 6.0, "gaussian_var_scale": 4.0, "positive": True,
        "mask_l1_reg": 1.0, "feature_weights_l1_reg": 1.0, "readout_reg_avg": False,
    }
    optimizer = {"_target_": "torch.optim.AdamW", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8,
                 "weight_decay": 0.01, "amsgrad": False}
    scheduler = {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "mode": "max", "factor": 0.3,
                 "patience": 5, "threshold": 0.0005, "threshold_mode": "abs", "cooldown": 0, "eps": 1e-8,
                 "monitor": "val_evaluation_loss", "interval": "epoch", "frequency": 1}
    lightning.pytorch.seed_everything(seed)
    model = UnifiedCoreReadout(
        in_shape=(1, 100, ny, nx), hidden_channels=(16, 32) if big else (16, 16),
        n_neurons_dict=data_info["n_neurons_dict"], core=OmegaConf.create(core), readout=OmegaConf.create(readout),
        learning_rate=0.01, data_info=data_info, optimizer=OmegaConf.create(optimizer),
        lr_scheduler=OmegaConf.create(scheduler),
        loss=OmegaConf.create({"_target_": "openretina.modules.losses.poisson.L1PoissonLoss3d", "gamma_l1": 0.001}),
    )
    with tempfile.TemporaryDirectory() as tmp:
        best = ModelCheckpoint(dirpath=tmp, monitor="val_evaluation_loss", mode="max", save_top_k=1)
        stop = EarlyStopping(monitor="val_evaluation_loss", min_delta=0.001, patience=10, mode="max")
        trainer = lightning.Trainer(max_epochs=50, max_time={"minutes": minutes}, gradient_clip_val=1,
                                    callbacks=[best, stop], logger=False, enable_progress_bar=False,
                                    enable_model_summary=False, accelerator="cpu", deterministic="warn")
        start = time.perf_counter()
        trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(
            LongCycler(loaders["train"], shuffle=True), batch_size=None, num_workers=0),
            val_dataloaders=ShortCycler(loaders["validation"]))
        seconds = time.perf_counter() - start
        if best.best_model_path:  # else the budget ended inside the first epoch: keep the last weights
            state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)["state_dict"]
            model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        x = torch.as_tensor(test_movie[None], dtype=torch.float32)  # (1, 1, time, ny, nx)
        out = model(x, data_key="session")[0].numpy()  # (time - lost, neuron): lost frames are at the start
    pred = np.full((test_movie.shape[1], out.shape[1]), np.nan)
    pred[test_movie.shape[1] - out.shape[0] :] = out
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    np.savez(out_path, prediction=pred, seconds=seconds, n_params=n_params, epochs=trainer.current_epoch)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["sample", "sim50"], help="sample and/or sim50")
    p.add_argument("--minutes", type=float, default=6.0, help="fit time budget of each model (minutes)")
    p.add_argument("--sim-train-seconds", type=float, default=150.0, help="training stimulus of the 50x50 simulation")
    p.add_argument("--our-minutes", type=float, help="retinacodec's fit budget (minutes; default: --minutes)")
    p.add_argument("--published", action="store_true",
                   help="also fit ours with the published (non-separable) layer 1 on frames of 40 px or more")
    p.add_argument("--ema-decay", type=float, help="also fit ours with this weight average (fit's ema_decay option)")
    p.add_argument("--ema-minutes", type=float, help="that fit's budget (minutes; default: --our-minutes)")
    p.add_argument("--sim-stimulus", default="white_noise", choices=["white_noise", "natural"],
                   help="stimulus of the 50x50 simulation")
    p.add_argument("--threads", type=int, default=1, help="torch threads on both sides")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=HERE / ".cache",
                   help="where the 50x50 simulations are cached (shared with bench_fit_large.py)")
    p.add_argument("--openretina-python", default=str(DEFAULT_PYTHON), help="Python of the openretina environment")
    p.add_argument("--openretina-side", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.openretina_side:
        openretina_side(*args.openretina_side, minutes=args.minutes, threads=args.threads, seed=args.seed)
    else:
        run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
