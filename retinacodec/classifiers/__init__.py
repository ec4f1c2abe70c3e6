"""CODEC for image classifiers: any PyTorch network, block outputs, per-image contribution modes.

- :mod:`.layers` — dotted layer names, the layers that cut the network (:func:`block_outputs`);
- :mod:`.features` — per-image sign-split contributions and activations (:func:`image_contributions`);
- :mod:`.modes` — CODEC's SAE per layer with the official ResNet preset (:func:`image_modes`);
- :mod:`.analyses` — mode × class correlation, per-layer sparsity / sign correlation / dimensionality;
- :mod:`.interventions` — ablating or preserving a class's top mode's channels (official protocol);
- :mod:`.debias` — the presence + absence explanation penalty against a planted shortcut;
- :mod:`.components` — which part of an image drives a mode's top channels (:func:`mode_components`);
- :mod:`.networks`, :mod:`.data` — small torchvision-shaped ResNet, VGG and ViT, scikit-learn digits.
"""

from retinacodec.classifiers.analyses import class_correlation, layer_statistics, top_modes
from retinacodec.classifiers.components import mode_components
from retinacodec.classifiers.data import accuracy, digits, predict, split, train_classifier
from retinacodec.classifiers.debias import add_patch, explanation_penalty
from retinacodec.classifiers.features import image_activations, image_contributions, reduce_layer
from retinacodec.classifiers.interventions import channel_ranking, class_ablation, class_accuracy, mode_ablation
from retinacodec.classifiers.layers import block_outputs, check_layers, layer_table, resolve
from retinacodec.classifiers.modes import RESNET_PRESET, image_modes, select_part
from retinacodec.classifiers.networks import resnet, small_vgg, tiny_vit

__all__ = [
    "RESNET_PRESET",
    "accuracy",
    "add_patch",
    "block_outputs",
    "channel_ranking",
    "check_layers",
    "class_ablation",
    "class_accuracy",
    "class_correlation",
    "digits",
    "explanation_penalty",
    "image_activations",
    "image_contributions",
    "image_modes",
    "layer_statistics",
    "layer_table",
    "mode_ablation",
    "mode_components",
    "predict",
    "reduce_layer",
    "resnet",
    "resolve",
    "select_part",
    "small_vgg",
    "split",
    "tiny_vit",
    "top_modes",
    "train_classifier",
]
