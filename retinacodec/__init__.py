"""retinacodec: retinal recordings, CNN retina models and CODEC contribution modes.

The main entry points::

    import retinacodec as rc
    rec, truth = rc.load_sample()          # or rc.read_nwb("my_recording.nwb")
    model = rc.fit(rec)                     # the Baccus-lab 3-layer CNN
    scores = rc.evaluate(model, rec, truth, baseline=rc.fit_ln(rec))   # the CNN beside a classic LN model
"""

import warnings as _warnings
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

with _warnings.catch_warnings():  # in Jupyter without ipywidgets, tqdm.auto warns once and uses its text bars anyway
    _warnings.filterwarnings("ignore", message="IProgress not found")
    import tqdm.auto  # noqa: F401  (imported first here, so the submodules' imports find it quiet)

from retinacodec import absence, classifiers, figures, phenomena, rf
from retinacodec.attribution import Surprisal, contributions, contributions_for_recording, layer_contributions
from retinacodec.codec import analyses, decompose, interventions, sae, save_modes
from retinacodec.codec.interventions import intervention_curves
from retinacodec.io import read_nwb, stimulus_names, write_nwb
from retinacodec.model import BNCNN, BNCNNConfig, evaluate, fit, load_model, predict, preset_config
from retinacodec.recording import block_frames, make_recording, repeated_responses, validate_recording
from retinacodec.rf.ln import fit_ln
from retinacodec.sample import load_sample, load_sample_model
from retinacodec.sim.simulate import simulate_retina, simulate_run_freeze

try:  # one source: pyproject.toml's version, as installed
    __version__ = _version("retinacodec")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "BNCNN",
    "BNCNNConfig",
    "Surprisal",
    "__version__",
    "absence",
    "analyses",
    "block_frames",
    "classifiers",
    "contributions",
    "contributions_for_recording",
    "decompose",
    "evaluate",
    "figures",
    "fit",
    "fit_ln",
    "intervention_curves",
    "interventions",
    "layer_contributions",
    "load_model",
    "load_sample",
    "load_sample_model",
    "make_recording",
    "phenomena",
    "predict",
    "preset_config",
    "read_nwb",
    "repeated_responses",
    "rf",
    "sae",
    "save_modes",
    "simulate_retina",
    "simulate_run_freeze",
    "stimulus_names",
    "validate_recording",
    "write_nwb",
]
