"""The command line: every subcommand, and one-line errors without tracebacks."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from retinacodec.cli import build_parser, main

SMALL = ["--size", "16", "16", "--train-seconds", "20", "--test-seconds", "2", "--repeats", "2",
         "--cells-per-type", "1"]


@pytest.fixture(scope="session")
def small_nwb(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "rec.nwb"
    assert main(["simulate", str(path), "--seed", "1", *SMALL]) == 0
    return path


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "retinacodec.cli", *args], capture_output=True, text=True)


def test_help_everywhere():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"info", "simulate", "fit", "evaluate", "demo"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0


def test_simulate_writes_recording_and_truth(small_nwb, capsys):
    assert small_nwb.exists()
    assert small_nwb.with_name("rec_truth.nc").exists()
    assert main(["simulate", str(small_nwb), *SMALL]) == 2
    assert "already exists" in capsys.readouterr().err


def test_info_text_and_json(small_nwb, capsys):
    assert main(["info", str(small_nwb)]) == 0
    text = capsys.readouterr().out
    assert "3 cells" not in text and "cells:       3" in text and "2 test repeats" in text
    assert main(["info", str(small_nwb), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cells"] == 3 and info["frame_rate_hz"] == 100.0 and info["test_repeats"] == 2
    assert info["stimulus_series"] == ["white_noise"]
    assert set(info["frames_per_block"]) == {"train", "test", "other"}


def test_fit_and_evaluate(small_nwb, tmp_path, capsys):
    model = tmp_path / "m.pt"
    assert main(["fit", str(small_nwb), "--out", str(model), "--epochs", "2", "--batch-size", "64"]) == 0
    assert model.exists()
    capsys.readouterr()
    fig = tmp_path / "pred.png"
    assert main(["evaluate", str(model), str(small_nwb), "--json", "--figure", str(fig)]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert len(scores["r"]) == 3 and "r_truth" in scores  # truth found beside the recording
    assert fig.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "/no/such/file.nwb"], "does not exist"),
        (["evaluate", "/no/such/model.pt", "/no/such/file.nwb"], "no checkpoint"),
    ],
)
def test_user_errors_are_one_line(args, message):
    res = run_cli(*args)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and message in res.stderr


def test_malformed_files(tmp_path, small_nwb, capsys):
    junk = tmp_path / "junk.nwb"
    junk.write_text("this is not HDF5")
    assert main(["info", str(junk)]) == 2
    assert "not an HDF5/NWB file" in capsys.readouterr().err
    bad_model = tmp_path / "bad.pt"
    bad_model.write_bytes(b"\x00" * 100)
    assert main(["evaluate", str(bad_model), str(small_nwb)]) == 2
    assert "corrupt" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_without_cuda(small_nwb, tmp_path, capsys):
    assert main(["fit", str(small_nwb), "--out", str(tmp_path / "m.pt"), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


# --- issue 11: each failure a new user met, reproduced -------------------------------------------------------------


@pytest.fixture(scope="session")
def small_model(small_nwb, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.pt"
    assert main(["fit", str(small_nwb), "--out", str(path), "--epochs", "1", "--batch-size", "64"]) == 0
    return path


@pytest.fixture(scope="session")
def other_nwb(tmp_path_factory):
    """Another recording: same frame size and cells, no test repeats, fewer frames, another seed."""
    path = tmp_path_factory.mktemp("other") / "other.nwb"
    assert main(["simulate", str(path), "--seed", "5", "--size", "16", "16", "--train-seconds", "8",
                 "--repeats", "0", "--cells-per-type", "1"]) == 0
    return path


def test_every_option_has_help_and_shows_its_default():
    parser = build_parser()
    assert "retina" in parser.description and "NWB" in parser.description and "Orchestrates" not in parser.description
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    text = parser._subparsers._group_actions[0].choices["fit"].format_help()
    for default in ("--epochs EPOCHS", "(default: 40)", "(default: 512)", "(default: 0.005)", "(default: auto)"):
        assert default in text
    assert "--test-block" in text and "--kernels" in text and "--bin-ms" in text


@pytest.mark.parametrize("command", ["info", "fit", "evaluate", "contributions", "decompose"])
def test_every_command_that_reads_a_recording_has_the_reader_flags(command):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    flags = {o for a in sub._actions for o in a.option_strings}
    assert {"--test-block", "--block-column", "--repeat-column", "--pixel-size-um", "--intervals", "--no-intervals",
            "--crop", "--downsample", "--bin-ms", "--stimulus"} <= flags


def test_fit_epochs_zero_is_an_error_and_writes_nothing(small_nwb, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["fit", str(small_nwb), "--out", str(out), "--epochs", "0"]) == 2
    assert "--epochs must be >= 1" in capsys.readouterr().err and not out.exists()
    assert main(["fit", str(small_nwb), "--out", str(out), "--ema-decay", "1.5"]) == 2
    assert "--ema-decay must lie between 0 and 1" in capsys.readouterr().err and not out.exists()


def test_fit_refuses_to_overwrite_like_simulate(small_nwb, small_model, capsys):
    before = small_model.stat().st_mtime_ns
    assert main(["fit", str(small_nwb), "--out", str(small_model), "--epochs", "1"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and small_model.stat().st_mtime_ns == before


def test_outputs_in_missing_folders_are_created_by_every_command(small_nwb, small_model, tmp_path):
    assert main(["simulate", str(tmp_path / "new" / "sim.nwb"), *SMALL]) == 0
    assert main(["evaluate", str(small_model), str(small_nwb), "--figure", str(tmp_path / "figs" / "p.png")]) == 0
    assert (tmp_path / "new" / "sim.nwb").exists() and (tmp_path / "figs" / "p.png").exists()


def test_resume_from_another_recording_is_a_one_line_error(small_model, tmp_path, capsys):
    """Once: a raw traceback 'size mismatch for readout.linear.weight', exit 1."""
    rec = tmp_path / "full.nwb"
    assert main(["simulate", str(rec), "--size", "12", "12", "--train-seconds", "5", "--repeats", "0",
                 "--cells-per-type", "1"]) == 0
    capsys.readouterr()
    assert main(["fit", str(rec), "--out", str(small_model), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and err.strip().count("\n") == 0


def test_swapped_arguments_are_named(small_nwb, small_model, capsys):
    assert main(["evaluate", str(small_nwb), str(small_model)]) == 2
    err = capsys.readouterr().err
    assert "swapped" in err and "corrupt" not in err


@pytest.mark.parametrize("command", ["evaluate", "contributions", "decompose"])
def test_model_recording_mismatch_is_one_line_without_api_advice(command, small_model, tmp_path, capsys):
    rec = tmp_path / "big.nwb"
    assert main(["simulate", str(rec), "--size", "18", "18", "--train-seconds", "2", "--cells-per-type", "1",
                 "--test-seconds", "1", "--repeats", "2"]) == 0
    extra = [] if command == "evaluate" else ["--out", str(tmp_path / "x.nc")]
    assert main([command, str(small_model), str(rec), *extra]) == 2
    err = capsys.readouterr().err
    assert "model/recording mismatch" in err and "16x16" in err and "18x18" in err
    assert "WindowedData" not in err and err.strip().count("\n") == 0


def test_model_of_another_recording_without_repeats_is_an_error_not_a_crash(small_model, other_nwb, capsys):
    """Once: IndexError 'index 98400 is out of bounds' from the model's held-out frames."""
    assert main(["evaluate", str(small_model), str(other_nwb)]) == 2
    assert "no repeated test block" in capsys.readouterr().err


def test_evaluate_without_repeats_gives_strict_json_and_a_figure(other_nwb, tmp_path, capsys):
    """Once: '"median_feve": NaN', and --figure exited 2 after the table with an 'All-NaN slice' warning."""
    model = tmp_path / "o.pt"
    assert main(["fit", str(other_nwb), "--out", str(model), "--epochs", "1", "--batch-size", "64"]) == 0
    fig = tmp_path / "o.png"
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["evaluate", str(model), str(other_nwb), "--json", "--figure", str(fig)]) == 0
    assert fig.exists() and not [w for w in caught if "All-NaN" in str(w.message)]
    scores = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert scores["median_feve"] is None and all(v is None for v in scores["feve"])


def test_unreliable_cells_get_a_feve_warning(small_nwb, small_model):
    """Once: FEVE 1.775 for a cell of reliability 0.098, without a warning."""
    from retinacodec.io import read_nwb
    from retinacodec.model.checkpoint import load_model
    from retinacodec.model.evaluation import evaluate

    rec = read_nwb(small_nwb)
    noise = np.random.default_rng(0).poisson(0.2, rec.sizes["frame"])
    rec["spikes"].values[:, 0] = noise  # cell 0: the same rate in every repeat, no stimulus drive
    with pytest.warns(UserWarning, match=r"ids \[0.*FEVE is not meaningful"):
        scores = evaluate(load_model(small_model), rec)
    assert 0 in scores.attrs["unreliable_cells"]
    assert scores["reliability"].values[0] < 0.3


def test_progress_is_logged_one_line_per_epoch_off_terminal(small_nwb, tmp_path, capsys):
    """Once: nothing was printed when output was not a terminal."""
    assert main(["fit", str(small_nwb), "--out", str(tmp_path / "m.pt"), "--epochs", "2", "--batch-size", "64"]) == 0
    err = capsys.readouterr().err
    assert "fit: epoch 1/2" in err and "fit: epoch 2/2" in err


def test_architecture_and_reshaping_flags_reach_the_model_and_evaluate(small_nwb, tmp_path, capsys):
    model = tmp_path / "m.pt"
    assert main(["fit", str(small_nwb), "--out", str(model), "--epochs", "1", "--batch-size", "64", "--crop", "2", "2",
                 "12", "12", "--kernels", "5", "3", "--channels", "4", "6", "--history", "20"]) == 0
    assert "kernels 5, 3 and channels 4, 6 for a 12x12 px stimulus; history 20 frames" in capsys.readouterr().out
    from retinacodec.model.checkpoint import load_model

    fitted = load_model(model)
    assert fitted.config.kernel_sizes == (5, 3) and fitted.config.channels == (4, 6) and fitted.config.history == 20
    assert json.loads(fitted.metadata["preprocessing"]) == {"crop": [2, 2, 12, 12]}
    assert main(["evaluate", str(model), str(small_nwb), "--json"]) == 0  # read with the model's crop
    assert json.loads(capsys.readouterr().out)["block"] == "test (2 repeats)"
