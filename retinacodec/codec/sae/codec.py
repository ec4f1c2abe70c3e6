"""CODEC's sparse autoencoder: an MLP encoder with thresholded sigmoid codes (METHODS.md §3).

The defaults are the official retina run's, parameter for parameter: bscope ``sae.py``
(``STSAE`` with its ``DefaultEncoder`` and ``Dictionary``) trained as
``figures/figure_8_retina/preprocessing/2_decompose_retinal_contributions.py`` of
baccuslab/CODEC_ICLR_2026 does:

===============================  =====================================  ==========================
what                             official                               here
===============================  =====================================  ==========================
encoder width                    ``mlp_hidden_dim = data dim``          ``hidden=None`` → d
encoder                          Linear → Dropout(0.05) → ReLU →        the same
                                 LayerNorm, twice; Linear (no bias) →
                                 Sigmoid
code gate                        ``codes * (codes >= threshold)``,      ``threshold=0.9``
                                 mask detached, ``THRESHOLD = 0.9``
dictionary                       ``Dictionary``: no bias, xavier        the same
                                 uniform, ReLU'd when non-negative
dictionary size                  ``N_DICT_MULTIPLIER = 10`` × d         ``expansion=None`` → 10
loss                             MSE + ``MODE_L1`` · mean abs(atoms),   ``l1=1e-4`` (a mean)
                                 ``MODE_L1 = 1e-4``
optimiser                        Adam, ``LEARNING_RATE = 1e-5``         ``lr=1e-5``
schedule                         StepLR(step_size=25, gamma=0.98)       ``step_lr=(25, 0.98)``
batches                          ``BATCH_SIZE = 128``, shuffled,        ``batch_size=128``,
                                 ``drop_last=True``                     ``drop_last=True``
epochs                           ``EPOCHS = 800``, no early stopping    ``max_epochs=800``,
                                                                        ``patience=None``
samples                          every sample trains (no held-out set)  ``validation_fraction=0``
scaling                          ``data / data.std()`` (one global      the same
                                 standard deviation, no centring)
kept weights                     see below                              the last epoch's
dead atoms                       dropped (never active on the data)     the same
===============================  =====================================  ==========================

Kept weights: the official loop stores ``sae.state_dict().copy()`` whenever the R² it logs
every 25 epochs improves; that shallow copy holds references to the live parameter tensors,
which the optimiser keeps updating in place, so the weights it finally loads are those of
the last epoch. We keep the last epoch's weights and log the monitored MSE every epoch.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import torch
from torch import nn

from retinacodec.codec.sae.base import BaseSAE, SAEModule

__all__ = ["CodecModule", "CodecSAE"]


class CodecModule(SAEModule):
    """Thresholded-sigmoid encoder and bias-free linear dictionary (bscope ``STSAE``).

    ``s = sigmoid(MLP(x))`` with the MLP ``Linear → Dropout → ReLU → LayerNorm`` twice, then
    ``Linear`` without bias; ``codes = s · [s ≥ threshold]`` where the mask carries no
    gradient, so every code is 0 or in ``[threshold, 1)``; ``x_hat = codes @ D`` with no bias,
    ``D = W`` or ``ReLU(W)`` when non-negative. The loss is ``MSE + l1 · mean |D|``. Linear
    layers keep PyTorch's default initialisation; ``W`` is xavier-uniform.

    Parameters
    ----------
    n_features : int
        Input dimension d.
    n_latents : int
        Dictionary size K.
    hidden : int
        Width of the encoder's hidden layers.
    threshold : float
        Codes below it are zeroed, in (0, 1).
    dropout : float
        Dropout probability in the encoder.
    l1 : float
        Weight of the mean absolute dictionary weight in the loss.
    nonneg : bool
        Non-negative dictionary (``ReLU`` of the weights, as bscope's ``Dictionary``).
    open_fraction : float, optional
        None keeps PyTorch's initialisation of the last encoder layer. A share q in (0, 1)
        draws its weights uniformly with the variance that makes each code pass the threshold
        with probability q at the start: the LayerNorm before it gives every sample a hidden
        vector of squared norm ``hidden``, so the logits are about normal with variance
        ``hidden · Var(w)``, set to ``(logit(threshold) / Φ⁻¹(1 − q))²``.
    """

    def __init__(self, n_features: int, n_latents: int, hidden: int, threshold: float, dropout: float, l1: float,
                 nonneg: bool, open_fraction: float | None = None) -> None:
        super().__init__()
        self.threshold, self.l1, self.nonneg = threshold, l1, nonneg
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(2):
            layers += [nn.Linear(width, hidden), nn.Dropout(dropout), nn.ReLU(), nn.LayerNorm(hidden)]
            width = hidden
        last = nn.Linear(hidden, n_latents, bias=False)
        if open_fraction is not None:
            std = math.log(threshold / (1 - threshold)) / NormalDist().inv_cdf(1 - open_fraction) / math.sqrt(hidden)
            nn.init.uniform_(last.weight, -math.sqrt(3) * std, math.sqrt(3) * std)
        self.encoder = nn.Sequential(*layers, last)
        self.W = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_latents, n_features)))

    @property
    def dictionary(self) -> torch.Tensor:
        return torch.relu(self.W) if self.nonneg else self.W

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.encoder(x))
        return s * (s >= self.threshold).detach()

    def training_loss(self, x: torch.Tensor) -> torch.Tensor:
        return (self.decode(self.encode(x)) - x).pow(2).mean() + self.l1 * self.dictionary.abs().mean()


class CodecSAE(BaseSAE):
    """CODEC's thresholded-sigmoid sparse autoencoder (Melander et al. 2026), sklearn-style.

    Every default is the official retina run's (module docstring, with the file each comes
    from). The other SAEs' conveniences are options: ``validation_fraction > 0`` holds samples
    out (and the metrics are measured on them), ``patience`` stops early on their
    reconstruction error and restores the best weights, and ``open_fraction`` starts a share
    of the codes above the threshold. With the official initialisation about 1e-4 of the
    codes pass the 0.9 threshold at the start, and since the gate carries no gradient, codes
    that never pass never learn: on the shipped sample (921 test frames, or 4000 training
    frames) no code passed in 800 epochs and the SAE kept no mode.

    Parameters
    ----------
    expansion : float, optional
        K = ``expansion`` × n_features when ``n_modes`` is None; default 10 (the retina; the
        paper uses 3 for classifiers).
    n_modes : int, optional
        Dictionary size K, overriding ``expansion``.
    threshold : float
        Sigmoid outputs below it are zeroed.
    dropout : float
        Dropout probability after each hidden Linear of the encoder.
    hidden : int, optional
        Width of the encoder's two hidden layers; default the input dimension.
    l1 : float
        Weight of the mean absolute dictionary weight in the loss.
    nonneg_dictionary : bool
        Non-negative atoms (the ReLU of the weights).
    lr : float
        Adam learning rate.
    batch_size : int
        Samples per step.
    max_epochs : int
        Passes over the training samples (all of them unless ``patience`` is set).
    patience : int, optional
        Early stopping on the held-out MSE; None (official) trains every epoch.
    step_lr : (int, float), optional
        ``(step_size, gamma)`` of the per-epoch StepLR schedule; None for a constant rate.
    plateau_lr : (float, int), optional
        ``(factor, patience)`` of a per-epoch ReduceLROnPlateau on the mean training loss
        instead (CODEC's ResNet run, ``preprocessing/3a_train_saes_resnet.py``: ``(0.5, 10)``
        with ``step_lr=None``).
    drop_last : bool
        Skip each epoch's last, smaller batch.
    validation_fraction : float
        Share of samples held out; 0 (official) trains on all of them.
    open_fraction : float, optional
        Share of the codes above the threshold at initialisation (:class:`~retinacodec.codec.sae.codec.CodecModule`);
        None (official) keeps PyTorch's default initialisation.
    n_steps : int, optional
        Train for this many optimiser steps instead of ``max_epochs`` epochs: the epochs become
        ``ceil(n_steps / batches per epoch)`` and the StepLR step size is stretched by the same
        factor, so the learning rate decays as many times as over ``max_epochs``. The official
        retina run made 46 batches × 800 epochs = 36,800 steps on its ~5,956 frames; a recording
        with fewer frames needs more epochs for the same training (preset ``"paper_open"``).
    split, seed, n_init, device, progress
        As for :class:`~retinacodec.codec.sae.topk.TopKSAE`.

    Attributes
    ----------
    See :class:`~retinacodec.codec.sae.base.BaseSAE`; ``bias_`` is zero.
    """

    default_expansion = 10.0

    def __init__(self, *, expansion: float | None = None, n_modes: int | None = None, threshold: float = 0.9,
                 dropout: float = 0.05, hidden: int | None = None, l1: float = 1e-4, nonneg_dictionary: bool = False,
                 lr: float = 1e-5, batch_size: int = 128, max_epochs: int = 800, patience: int | None = None,
                 step_lr: tuple[int, float] | None = (25, 0.98), drop_last: bool = True,
                 validation_fraction: float = 0.0, open_fraction: float | None = None, n_steps: int | None = None,
                 split: str = "random", seed: int = 0, n_init: int = 1, device: str | None = "cpu",
                 progress: bool | None = None, plateau_lr: tuple[float, int] | None = None) -> None:
        self.expansion, self.n_modes, self.threshold, self.dropout = expansion, n_modes, threshold, dropout
        self.hidden = hidden
        self.l1, self.nonneg_dictionary, self.lr, self.batch_size = l1, nonneg_dictionary, lr, batch_size
        self.max_epochs, self.patience, self.step_lr, self.drop_last = max_epochs, patience, step_lr, drop_last
        self.plateau_lr = plateau_lr
        self.validation_fraction, self.open_fraction, self.n_steps = validation_fraction, open_fraction, n_steps
        self.split, self.seed, self.n_init, self.device, self.progress = split, seed, n_init, device, progress

    def _check_params(self, n_latents: int) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1); got {self.threshold}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}.")
        if self.l1 < 0:
            raise ValueError(f"l1 must be non-negative; got {self.l1}.")
        if self.open_fraction is not None and not 0 < self.open_fraction < 1:
            raise ValueError(f"open_fraction must be in (0, 1) or None; got {self.open_fraction}.")
        if self.n_steps is not None and int(self.n_steps) < 1:
            raise ValueError(f"n_steps must be a positive integer or None; got {self.n_steps}.")

    def _schedule(self, n_train: int) -> tuple[int, tuple[int, float] | None]:
        if self.n_steps is None:
            return self.max_epochs, self.step_lr
        per_epoch = n_train // self.batch_size if self.drop_last and n_train >= self.batch_size else \
            math.ceil(n_train / self.batch_size)
        epochs = math.ceil(int(self.n_steps) / per_epoch)
        if self.step_lr is None:
            return epochs, None
        return epochs, (max(1, round(self.step_lr[0] * epochs / self.max_epochs)), self.step_lr[1])

    def _build_module(self, x_train: torch.Tensor, n_latents: int) -> CodecModule:
        n_features = x_train.shape[1]
        hidden = self.hidden if self.hidden is not None else n_features
        return CodecModule(n_features, n_latents, hidden, self.threshold, self.dropout, self.l1,
                           self.nonneg_dictionary, self.open_fraction)
