"""CODEC (contribution decomposition): sparse autoencoders on contributions, modes, analyses, interventions.

- :func:`decompose` — the pipeline; preset ``"codec"`` by default, the paper's retina run as
  ``"paper"`` (:mod:`.presets`); :func:`seed_sweep` runs it once per SAE seed;
- :mod:`.features` — the samples: sign-split, spatially summed contributions or activations;
- :mod:`.sae` — the sparse autoencoders (CODEC's thresholded sigmoid, TopK, BatchTopK, ReLU);
- :mod:`.analyses` — sparsity, dimensionality, sign decorrelation, cell × mode correlation;
- :mod:`.interventions` — ablating or preserving a mode's top channels or units;
- :mod:`.stability` — are the modes reproduced across SAE seeds (:func:`mode_stability`).
"""

from retinacodec.codec import analyses, interventions, sae, stability
from retinacodec.codec.decompose import (
    SAE_KINDS,
    decompose,
    fit_modes,
    make_sae,
    reconstruct,
    save_modes,
    seed_sweep,
)
from retinacodec.codec.features import activation_features, attribution_model, contribution_features, pre_nonlinearity
from retinacodec.codec.presets import DEFAULT_PRESET, PRESETS, CodecConfig
from retinacodec.codec.stability import mode_stability

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "SAE_KINDS",
    "CodecConfig",
    "activation_features",
    "analyses",
    "attribution_model",
    "contribution_features",
    "decompose",
    "fit_modes",
    "interventions",
    "make_sae",
    "mode_stability",
    "pre_nonlinearity",
    "reconstruct",
    "sae",
    "save_modes",
    "seed_sweep",
    "stability",
]
