"""What every sparse autoencoder shares: input checks, the split, the training loop, the estimator.

A concrete SAE is a :class:`SAEModule` (the network, its loss and its weight constraints)
plus a :class:`BaseSAE` subclass that builds it; :meth:`BaseSAE.fit` does the rest the same
way for all of them: divide the inputs by one global standard deviation, split off held-out
samples, train with Adam and early stopping on the held-out reconstruction error, restore
the best weights, drop dead atoms and measure the result on the held-out samples. With
``validation_fraction=0`` and ``patience=None`` (CODEC's official recipe) every sample
trains, training runs all epochs (optionally under a step learning-rate schedule) and keeps
the last weights, and the metrics are those of the training samples.
"""

from __future__ import annotations

import copy
import math
from abc import abstractmethod

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn
from tqdm.auto import tqdm

from retinacodec.codec.sae.metrics import DENSE_FRACTION, code_statistics, r2_score
from retinacodec.device import resolve_device
from retinacodec.model.windows import split_blocks

__all__ = ["MIN_SPLIT_SAMPLES", "BaseSAE", "SAEModule", "check_samples", "split_samples"]

#: Fewest samples each side of the train/validation split may have.
MIN_SPLIT_SAMPLES = 5
#: Contiguous chunks the samples are cut into by ``split="contiguous"``.
N_CONTIGUOUS_CHUNKS = 20
#: Samples per forward pass when encoding outside training.
_CHUNK = 65536


def check_samples(X: np.ndarray | torch.Tensor, name: str = "X") -> np.ndarray:
    """Check a sample matrix and return it as a float32 array.

    Parameters
    ----------
    X : array-like or torch.Tensor, shape (n_samples, n_features)
        Samples in rows.
    name : str
        What to call ``X`` in error messages.

    Returns
    -------
    ndarray of float32, shape (n_samples, n_features)

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, is empty, or holds NaN or infinite values.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features); got shape {X.shape}. "
            "Use X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}.")
    if not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
        raise ValueError(f"{name} must hold real numbers; got dtype {X.dtype}.")
    X = X.astype(np.float32, copy=False)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{name} has NaN or infinite values in {rows.size} of {X.shape[0]} rows "
            f"(first: {rows[:5].tolist()}); drop or impute those rows first."
        )
    return X


def split_samples(n_samples: int, validation_fraction: float, split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and held-out samples.

    Parameters
    ----------
    n_samples : int
        Number of samples.
    validation_fraction : float
        Share held out, in [0, 1); 0 holds nothing out (every sample trains).
    split : {"random", "contiguous"}
        ``"random"``: a seeded random subset. ``"contiguous"``: the samples are cut into
        :data:`N_CONTIGUOUS_CHUNKS` contiguous chunks and whole chunks are held out, which is
        what autocorrelated samples (time bins) need: a random split would leak.
    seed : int
        Chooses the held-out samples or chunks.

    Returns
    -------
    train, validation : ndarray of int
        Sorted sample indices.

    Raises
    ------
    ValueError
        On a bad fraction or split name, or too few samples for both sides to have
        :data:`MIN_SPLIT_SAMPLES`.
    """
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1); got {validation_fraction}.")
    if split not in ("random", "contiguous"):
        raise ValueError(f"split must be 'random' or 'contiguous'; got {split!r}.")
    indices = np.arange(n_samples)
    if validation_fraction == 0:
        if n_samples < MIN_SPLIT_SAMPLES:
            raise ValueError(f"{n_samples} samples are too few to train on; pass at least {MIN_SPLIT_SAMPLES}.")
        return indices, indices[:0]
    if split == "random":
        n_val = int(round(validation_fraction * n_samples))
        val = np.sort(np.random.default_rng(seed).choice(n_samples, size=n_val, replace=False))
        train = np.setdiff1d(indices, val)
    else:
        train, val = split_blocks(indices, validation_fraction, N_CONTIGUOUS_CHUNKS, history=1, seed=seed)
    if min(train.size, val.size) < MIN_SPLIT_SAMPLES:
        need = math.ceil(MIN_SPLIT_SAMPLES / min(validation_fraction, 1 - validation_fraction))
        raise ValueError(
            f"{n_samples} samples are too few for a validation split: with validation_fraction="
            f"{validation_fraction} ({split}) there are {train.size} training and {val.size} held-out samples, "
            f"and each side needs at least {MIN_SPLIT_SAMPLES}; pass at least {need} samples."
        )
    return train, val


class SAEModule(nn.Module):
    """The network of a sparse autoencoder; subclasses define the codes and the loss.

    The module works on inputs already divided by the global standard deviation. It
    reconstructs ``x_hat = codes @ dictionary + offset``.
    """

    @property
    @abstractmethod
    def dictionary(self) -> torch.Tensor:
        """Atoms in rows, shape (n_latents, n_features)."""

    @property
    def offset(self) -> torch.Tensor:
        """Added to every reconstruction, shape (n_features,); zero unless overridden."""
        return torch.zeros(self.dictionary.shape[1], device=self.dictionary.device)

    @abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes at inference, shape (n_samples, n_latents), from ``x`` (n_samples, n_features)."""

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Reconstruction (n_samples, n_features) from codes (n_samples, n_latents)."""
        return codes @ self.dictionary + self.offset

    @abstractmethod
    def training_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The loss to minimise on a training batch ``x`` (batch, n_features)."""

    def constrain_gradients(self) -> None:
        """Adjust gradients before an optimiser step (default: nothing)."""

    def constrain_weights(self) -> None:
        """Project the weights back onto their constraints after a step (default: nothing)."""

    def end_epoch(self) -> None:
        """Called after every training epoch, before validation (default: nothing)."""


@torch.no_grad()
def encode_all(module: SAEModule, x: torch.Tensor) -> torch.Tensor:
    """Inference codes (n_samples, n_latents) of ``x`` (n_samples, n_features), in chunks."""
    module.eval()
    return torch.cat([module.encode(x[i : i + _CHUNK]) for i in range(0, x.shape[0], _CHUNK)])


@torch.no_grad()
def reconstruction_mse(module: SAEModule, x: torch.Tensor) -> float:
    """Mean squared reconstruction error of ``x`` (n_samples, n_features) at inference."""
    module.eval()
    total = sum(float(((module.decode(module.encode(c)) - c) ** 2).sum()) for c in x.split(_CHUNK))
    return total / x.numel()


def train_module(module: SAEModule, x_train: torch.Tensor, x_val: torch.Tensor | None, *, lr: float,
                 batch_size: int, max_epochs: int, patience: int | None, generator: torch.Generator,
                 progress: bool | None = None, step_lr: tuple[int, float] | None = None,
                 drop_last: bool = False, plateau_lr: tuple[float, int] | None = None) -> list[dict[str, float]]:
    """Train with Adam; stop early on held-out reconstruction MSE, or run every epoch.

    Parameters
    ----------
    module : SAEModule
        Trained in place; ends in eval mode.
    x_train : torch.Tensor, shape (n_train, n_features)
        Scaled training samples, on the module's device.
    x_val : torch.Tensor, shape (n_val, n_features), optional
        Scaled held-out samples; None to monitor the training samples instead.
    lr : float
        Adam learning rate.
    batch_size : int
        Samples per step.
    max_epochs : int
        Most passes over the training samples.
    patience : int, optional
        Epochs without a better monitored MSE before stopping, the best weights restored;
        None trains all ``max_epochs`` and keeps the last weights.
    generator : torch.Generator
        CPU generator that shuffles the batches.
    progress : bool, optional
        Show a progress bar; default: only on a terminal.
    step_lr : (int, float), optional
        ``(step_size, gamma)`` of a :class:`torch.optim.lr_scheduler.StepLR` stepped once per
        epoch; None keeps the learning rate constant.
    drop_last : bool
        Skip the last, smaller batch of each epoch (as a ``DataLoader(drop_last=True)``).
    plateau_lr : (float, int), optional
        ``(factor, patience)`` of a :class:`torch.optim.lr_scheduler.ReduceLROnPlateau` stepped
        once per epoch on the mean training loss (CODEC's ResNet run); not with ``step_lr``.

    Returns
    -------
    list of dict
        Per epoch: ``epoch``, ``train_loss`` (mean over steps), ``val_mse`` (MSE of the
        monitored samples), ``lr``.
    """
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    if step_lr is not None and plateau_lr is not None:
        raise ValueError("give step_lr or plateau_lr, not both.")
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, *step_lr) if step_lr is not None else None
    plateau = (torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=plateau_lr[0],
                                                          patience=plateau_lr[1]) if plateau_lr is not None else None)
    monitored = x_train if x_val is None else x_val
    history: list[dict[str, float]] = []
    best_mse, best_state, bad_epochs = math.inf, None, 0
    n = x_train.shape[0]
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    bar = tqdm(range(max_epochs), desc="sae", unit="epoch", disable=(not progress) if progress is not None else None)
    for epoch in bar:
        module.train()
        order = torch.randperm(n, generator=generator).to(x_train.device)
        losses = []
        for start in range(0, stop, batch_size):
            loss = module.training_loss(x_train[order[start : start + batch_size]])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            module.constrain_gradients()
            optimizer.step()
            module.constrain_weights()
            losses.append(loss.detach())
        module.end_epoch()
        val_mse = reconstruction_mse(module, monitored)
        history.append({"epoch": epoch, "train_loss": float(torch.stack(losses).mean()), "val_mse": val_mse,
                        "lr": optimizer.param_groups[0]["lr"]})
        if scheduler is not None:
            scheduler.step()
        if plateau is not None:
            plateau.step(history[-1]["train_loss"])
        bar.set_postfix(mse=f"{val_mse:.4g}")
        if patience is None:
            continue
        if val_mse < best_mse:
            best_mse, best_state, bad_epochs = val_mse, copy.deepcopy(module.state_dict()), 0
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                break
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history


class BaseSAE(TransformerMixin, BaseEstimator):
    """Shared ``fit`` / ``transform`` of the sparse autoencoders (sklearn conventions).

    Subclasses set the constructor parameters and implement ``_build_module``; the
    parameters every subclass has are documented in :meth:`fit`'s behaviour below.

    Attributes
    ----------
    n_features_in_ : int
        Input dimension.
    n_latents_ : int
        Dictionary size K before dead atoms are dropped.
    modes_ : ndarray, shape (n_modes_kept, n_features)
        The kept dictionary atoms, in the original input units.
    bias_ : ndarray, shape (n_features,)
        Added to every reconstruction (the learned pre-encoder bias; zero for CODEC), original units.
    mean_ : ndarray, shape (n_features,)
        Per-feature mean of the training samples, original units.
    scale_ : float
        The global standard deviation (over all training entries) the inputs are divided by.
    kept_ : ndarray of int, shape (n_modes_kept,)
        Indices, among the K atoms, of the kept ones (rows of ``modes_``, columns of codes).
    dead_modes_ : ndarray of int
        Indices of the atoms never active on the training or held-out samples; dropped.
    train_indices_, validation_indices_ : ndarray of int
        Rows of ``X`` used for training and held out.
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``val_mse`` (scaled units).
    metrics_ : dict
        On the held-out samples (on the training samples when none are held out, and then
        ``held_out`` is False): ``r2`` (pooled about the per-feature means) and ``r2_grand``
        (about the grand mean, as bscope's ``r2_score``; see
        :func:`~retinacodec.codec.sae.metrics.r2_score`), ``l0`` (mean active atoms per
        sample), ``dead_fraction`` (share of the K atoms never active on them),
        ``dense_fraction`` (share of the K atoms active on more than half of them), plus
        ``n_dead`` (``len(dead_modes_)``) and ``n_epochs``.
    init_ : int
        Which of the ``n_init`` restarts (seeds ``seed``, ``seed + 1`` ...) was kept: the one
        with the lowest reconstruction error on the held-out samples (on the training samples
        when none are held out).
    module_ : SAEModule
        The trained network (scaled units).
    """

    #: Default K / input dimension of the subclass.
    default_expansion: float = 8.0
    #: ``(step_size, gamma)`` of a per-epoch StepLR schedule, or None; subclasses may make it a parameter.
    step_lr: tuple[int, float] | None = None
    #: Skip each epoch's last, smaller batch; subclasses may make it a parameter.
    drop_last: bool = False
    #: ``(factor, patience)`` of a per-epoch ReduceLROnPlateau on the training loss, or None; likewise.
    plateau_lr: tuple[float, int] | None = None

    @abstractmethod
    def _build_module(self, x_train: torch.Tensor, n_latents: int) -> SAEModule:
        """The untrained network for scaled training samples ``x_train`` (n_train, n_features)."""

    def _check_params(self, n_latents: int) -> None:
        """Raise ValueError on parameters that do not fit ``n_latents`` atoms (default: none)."""

    def _schedule(self, n_train: int) -> tuple[int, tuple[int, float] | None]:
        """Epochs to train for and the StepLR schedule, given ``n_train`` training samples (default: as set)."""
        return self.max_epochs, self.step_lr

    def _n_latents(self, n_features: int) -> int:
        if self.n_modes is not None:
            if int(self.n_modes) < 1:
                raise ValueError(f"n_modes must be a positive integer; got {self.n_modes}.")
            return int(self.n_modes)
        expansion = self.default_expansion if self.expansion is None else self.expansion
        if expansion <= 0:
            raise ValueError(f"expansion must be positive; got {expansion}.")
        return max(1, int(round(expansion * n_features)))

    def fit(self, X: np.ndarray | torch.Tensor, y: None = None) -> BaseSAE:
        """Train on samples ``X``.

        Parameters
        ----------
        X : array-like or torch.Tensor, shape (n_samples, n_features)
            Float samples in rows (contribution vectors, one per time bin or image).
        y : None
            Ignored (sklearn convention).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If ``X`` is not 2-D, holds NaN or inf, has no variance, is too small for the
            validation split, or the parameters do not fit it (e.g. ``k`` above K).
        """
        X = check_samples(X)
        n_latents = self._n_latents(X.shape[1])
        self._check_params(n_latents)
        if self.batch_size < 1 or self.max_epochs < 1 or (self.patience is not None and self.patience < 1):
            raise ValueError("batch_size, max_epochs and patience must be positive integers (patience may be None).")
        train, val = split_samples(X.shape[0], self.validation_fraction, self.split, self.seed)
        held_out = val.size > 0
        n_init = int(self.n_init)
        if n_init < 1:
            raise ValueError(f"n_init must be a positive integer; got {n_init}.")
        device = resolve_device(self.device)
        scored = val if held_out else train
        max_epochs, step_lr = self._schedule(train.size)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            x = torch.as_tensor(X, device=device)
            scale = float(x[train].std(correction=0))
            if not scale > 0:
                raise ValueError("the training samples are all equal; there is nothing to decompose.")
            x = x / scale
            best_mse = math.inf
            for init in range(n_init):  # restarts: the one that reconstructs the monitored samples best is kept
                torch.manual_seed(self.seed + init)
                candidate = self._build_module(x[train], n_latents).to(device)
                generator = torch.Generator().manual_seed(self.seed + init)
                history = train_module(candidate, x[train], x[val] if held_out else None, lr=self.lr,
                                       batch_size=self.batch_size, max_epochs=max_epochs, patience=self.patience,
                                       generator=generator, progress=self.progress, step_lr=step_lr,
                                       drop_last=self.drop_last, plateau_lr=self.plateau_lr)
                mse = reconstruction_mse(candidate, x[scored])
                if mse < best_mse:
                    best_mse, module, self.history_, self.init_ = mse, candidate, history, init
            codes_train, codes_scored = encode_all(module, x[train]), encode_all(module, x[scored])
            with torch.no_grad():
                x_hat = (module.decode(codes_scored) * scale).cpu().numpy()
        active = ((codes_train != 0).any(0) | (codes_scored != 0).any(0)).cpu().numpy()
        self.module_ = module
        self.n_features_in_, self.n_latents_, self.scale_ = X.shape[1], n_latents, scale
        self.kept_, self.dead_modes_ = np.flatnonzero(active), np.flatnonzero(~active)
        self.modes_ = (module.dictionary.detach() * scale).cpu().numpy()[self.kept_]
        self.bias_ = (module.offset.detach() * scale).cpu().numpy()
        self.mean_ = X[train].mean(axis=0)
        self.train_indices_, self.validation_indices_ = train, val
        self.metrics_ = {
            "r2": r2_score(X[scored], x_hat),
            "r2_grand": r2_score(X[scored], x_hat, reference="grand"),
            **code_statistics(codes_scored.cpu().numpy(), DENSE_FRACTION),
            "n_dead": int(self.dead_modes_.size),
            "n_epochs": len(self.history_),
            "held_out": held_out,
        }
        return self

    def _scaled(self, X: np.ndarray | torch.Tensor) -> torch.Tensor:
        check_is_fitted(self, "module_")
        X = check_samples(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but the SAE was fitted on {self.n_features_in_}.")
        device = next(self.module_.parameters()).device
        return torch.as_tensor(X, device=device) / self.scale_

    def transform(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """Codes (mode loadings) of samples.

        Parameters
        ----------
        X : array-like or torch.Tensor, shape (n_samples, n_features)

        Returns
        -------
        ndarray of float32, shape (n_samples, n_modes_kept)
            One column per row of ``modes_``.
        """
        codes = encode_all(self.module_, self._scaled(X))
        return codes[:, torch.as_tensor(self.kept_, device=codes.device)].cpu().numpy()

    def inverse_transform(self, codes: np.ndarray) -> np.ndarray:
        """Reconstruct samples from codes.

        Parameters
        ----------
        codes : ndarray, shape (n_samples, n_modes_kept)

        Returns
        -------
        ndarray of float32, shape (n_samples, n_features)
            ``codes @ modes_ + bias_``, in the original input units.
        """
        check_is_fitted(self, "module_")
        codes = check_samples(codes, "codes")
        if codes.shape[1] != self.modes_.shape[0]:
            raise ValueError(f"codes have {codes.shape[1]} columns, but the SAE kept {self.modes_.shape[0]} modes.")
        return (codes @ self.modes_ + self.bias_).astype(np.float32)

    def reconstruct(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """``inverse_transform(transform(X))``: shape (n_samples, n_features)."""
        return self.inverse_transform(self.transform(X))

    def score(self, X: np.ndarray | torch.Tensor, y: None = None) -> float:
        """R² of the reconstruction of ``X`` (n_samples, n_features), per-feature means of ``X``."""
        X = check_samples(X)
        return r2_score(X, self.reconstruct(X))
