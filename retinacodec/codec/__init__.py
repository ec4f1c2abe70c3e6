"""CODEC (contribution decomposition): sparse autoencoders on contributions, modes, analyses, interventions.

- :func:`decompose` — the pipeline, the paper's retina run by default (:mod:`.presets`);
- :mod:`.features` — the samples: sign-split, spatially summed contributions or activations;
- :mod:`.sae` — the sparse autoencoders (CODEC's thresholded sigmoid, TopK, BatchTopK, ReLU);
- :mod:`.analyses` — sparsity, dimensionality, sign decorrelation, cell × mode correlation;
- :mod:`.interventions` — ablating or preserving a mode's top channels or units.
"""

from retinacodec.codec import analyses, interventions, sae
from retinacodec.codec.decompose import SAE_KINDS, decompose, fit_modes, make_sae, reconstruct, save_modes
from retinacodec.codec.features import activation_features, attribution_model, contribution_features, pre_nonlinearity
from retinacodec.codec.presets import PRESETS, CodecConfig

__all__ = [
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
    "pre_nonlinearity",
    "reconstruct",
    "sae",
    "save_modes",
]
