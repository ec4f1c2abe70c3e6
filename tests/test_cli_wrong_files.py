"""Every command given a wrong but readable file answers with one line and exit status 2, never a traceback."""

from pathlib import Path

import pytest
from nwb_layouts import build
from test_figures import codec_result

import retinacodec as rc
from retinacodec.cli import main
from retinacodec.codec import save_modes
from retinacodec.sample import sample_paths
from retinacodec.sim import RetinaCircuit

MODEL = str(Path(rc.__file__).parent / "data" / "sample_model.pt")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wrong")
    return {"nwb": str(build(tmp / "other.nwb")),  # an NWB of another shape (4 x 5 pixels, 3 cells)
            "nc": str(save_modes(codec_result(), tmp / "modes.nc")),  # a valid NetCDF, a modes file
            "out": tmp}


COMMANDS = {
    "info on a NetCDF file": ["info", "{nc}"],
    "fit on a NetCDF file": ["fit", "{nc}", "--out", "{out}/m.pt"],
    "evaluate a recording of another shape": ["evaluate", MODEL, "{nwb}"],
    "rf on a recording of another shape": ["rf", MODEL, "{nwb}", "--out", "{out}/rf.nc"],
    "decompose a recording of another shape": ["decompose", MODEL, "{nwb}", "--out", "{out}/x.nc"],
    "contributions of a recording of another shape": ["contributions", MODEL, "{nwb}", "--layers", "layer1",
                                                      "--out", "{out}/c.nc"],
    "evaluate with a NetCDF as the model": ["evaluate", "{nc}", "{nwb}"],
    "phenomena with a NetCDF as the model": ["phenomena", "{nc}", "--out", "{out}/ph1"],
    "phenomena with a truth that is not one": ["phenomena", MODEL, "--truth", "{nc}", "--out", "{out}/ph2"],
    "figures of a NetCDF that is not a modes file": ["figures", "{nwb}", "--out", "{out}/f1"],
    "figures with a modes file as the IRFs": ["figures", "{nc}", "--irf", "{nc}", "--out", "{out}/f2"],
    "figures with a recording of other frames": ["figures", "{nc}", "--recording", "{nwb}", "--out", "{out}/f3"],
}


@pytest.mark.parametrize("argv", COMMANDS.values(), ids=COMMANDS.keys())
def test_one_line_and_exit_2(files, argv, capsys):
    assert main([a.format(**files) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if not line.startswith("retinacodec: warning")]) == 1
    assert err[-1].startswith("retinacodec: error:") and "Traceback" not in "\n".join(err)


def test_circuit_rebuilt_from_the_sample_truth_responds_as_the_original():
    rec, truth = rc.load_sample()
    circuit = RetinaCircuit.from_truth(truth)
    assert circuit.n_cells == 9 and circuit.size == (20, 20)
    assert list(circuit.cell_type) == list(truth["cell_type"].values)
    with pytest.raises(ValueError, match="not the truth of a simulated recording"):
        RetinaCircuit.from_truth(truth.drop_vars("w_on"))


def test_phenomena_of_the_sample_model_compare_it_with_the_sample_circuit(tmp_path, capsys):
    assert main(["phenomena", MODEL, "--out", str(tmp_path / "ph")]) == 0
    out = capsys.readouterr().out
    assert f"fitted to: {sample_paths()[1]} (9 cells, 20 x 20 pixels)" in out
    table = (tmp_path / "ph" / "table.txt").read_text()
    ratio = next(line for line in table.splitlines() if "that cell's extra peak / its continuing peak" in line)
    assert all(float(v) > 0.01 for v in ratio.split()[-3:-1])  # a measure, not 1e-6 of a median over silent cells
    other = tmp_path / "other_truth.nc"
    _, truth3 = rc.simulate_retina(circuit=RetinaCircuit.phenomena(n_cells_per_type=1, size=(12, 12), seed=0),
                                   size=(12, 12), seed=0, train_seconds=2, test_seconds=1, n_repeats=1)
    rc.sim.simulate.save_truth(truth3, other)
    assert main(["phenomena", MODEL, "--truth", str(other), "--out", str(tmp_path / "ph3")]) == 2
    assert "3 cells but the model has 9" in capsys.readouterr().err
