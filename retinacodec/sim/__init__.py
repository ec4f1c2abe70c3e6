"""The ground-truth retina: a simulated circuit, the stimuli it is shown, and simulated recordings.

- :mod:`retinacodec.sim.circuit`: :class:`RetinaCircuit`, bipolar subunits, amacrine inhibition
  and ganglion cells, with optional published mechanisms (an omitted-stimulus resonance and
  contrast adaptation).
- :mod:`retinacodec.sim.stimuli`: white noise, natural-image movies, flashes, bars.
- :mod:`retinacodec.sim.simulate`: :func:`simulate_retina` and :func:`simulate_run_freeze`
  (Recording + noise-free truth), :func:`save_truth` / :func:`load_truth`.
"""

from retinacodec.sim import stimuli
from retinacodec.sim.circuit import CELL_TYPES, PATHWAYS, RetinaCircuit
from retinacodec.sim.simulate import STIMULI, load_truth, save_truth, simulate_retina, simulate_run_freeze

__all__ = [
    "CELL_TYPES",
    "PATHWAYS",
    "STIMULI",
    "RetinaCircuit",
    "load_truth",
    "save_truth",
    "simulate_retina",
    "simulate_run_freeze",
    "stimuli",
]
