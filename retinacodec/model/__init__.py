"""The model stage (METHODS.md §1): the BNCNN, stimulus windows, fitting, checkpoints, evaluation, metrics."""

from retinacodec.model.bncnn import (
    BNCNN,
    PRESETS,
    PUBLISHED_PRESETS,
    BNCNNConfig,
    SeparableConv2d,
    auto_kernel_sizes,
    preset_config,
)
from retinacodec.model.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from retinacodec.model.evaluation import check_compatible, evaluate, predict
from retinacodec.model.metrics import feve, pearson_per_cell, split_half_reliability
from retinacodec.model.tdr_checkpoint import load_tdr_model
from retinacodec.model.training import FitOptions, fit, predict_targets, train_epoch
from retinacodec.model.windows import (
    Normalization,
    WindowedData,
    split_blocks,
    streamed_normalization,
    strided_windows,
    valid_targets,
)

__all__ = [
    "BNCNN",
    "PRESETS",
    "PUBLISHED_PRESETS",
    "BNCNNConfig",
    "CheckpointError",
    "FitOptions",
    "Normalization",
    "SeparableConv2d",
    "WindowedData",
    "auto_kernel_sizes",
    "check_compatible",
    "evaluate",
    "feve",
    "fit",
    "load_model",
    "load_tdr_model",
    "pearson_per_cell",
    "predict",
    "predict_targets",
    "preset_config",
    "read_checkpoint",
    "save_checkpoint",
    "split_blocks",
    "split_half_reliability",
    "streamed_normalization",
    "strided_windows",
    "train_epoch",
    "valid_targets",
]
