"""Contribution modes of an image classifier: one CODEC SAE per layer on per-image samples.

The default preset is CODEC's ResNet-50 run, ``preprocessing/3a_train_saes_resnet.py`` of
baccuslab/CODEC_ICLR_2026 (read for these values):

==========================  =====================================================  ==================
what                        official                                               here
==========================  =====================================================  ==================
samples                     ``SPATIAL_OPERATION = 'positive'``: the positive part  ``part="positive"``
                            of each channel's spatially summed contribution
                            (``load_contribution_data(..., 'positive',
                            norm=True)``)
scaling                     ``data / np.std(data)``                                the SAE's own
dictionary size             ``N = 3`` × features                                   ``expansion=3``
code threshold              ``THRESHOLD = 0.8``                                    ``threshold=0.8``
encoder width               ``MLP_H = None`` → the input dimension                 ``hidden=None``
atom L1                     ``ATOM_L1 = 5e-5`` · mean abs(dictionary)              ``l1=5e-5``
code L1                     ``CODE_L1 = None``                                     none
optimiser                   Adam, ``LEARNING_RATE = 5e-5``, batch 128, shuffled    the same
schedule                    ``ReduceLROnPlateau(factor=0.5, patience=10)`` on the  ``plateau_lr=(0.5, 10)``
                            epoch's mean training loss
epochs                      ``EPOCHS = 300``                                       ``max_epochs=300``
==========================  =====================================================  ==================

The official DataLoader keeps each epoch's last, smaller batch (``drop_last=False``). The
official contributions there are integrated gradients (10 steps) to the top-1 class; here the
target and steps are those of the features given (:func:`~.features.image_contributions`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from retinacodec.codec.decompose import fit_modes

__all__ = ["PARTS", "RESNET_PRESET", "image_modes", "select_part"]

#: CODEC's ResNet SAE settings (:class:`~retinacodec.codec.sae.CodecSAE` parameters).
RESNET_PRESET: dict = {"expansion": 3.0, "threshold": 0.8, "lr": 5e-5, "max_epochs": 300, "l1": 5e-5,
                       "batch_size": 128, "step_lr": None, "plateau_lr": (0.5, 10), "drop_last": False}
#: Which part of the sign-split features an SAE sees.
PARTS = ("positive", "negative", "both", "net")


def select_part(features: xr.DataArray, part: str = "positive") -> xr.DataArray:
    """The part of sign-split features an SAE is trained on.

    Parameters
    ----------
    features : xarray.DataArray, dims (image, feature)
        From :func:`~.features.image_contributions` or :func:`~.features.image_activations`.
    part : {"positive", "negative", "both", "net"}
        The positive parts (official), the negative parts (in magnitude), both (2C per
        layer), or the net per channel (positive + negative).

    Returns
    -------
    xarray.DataArray, dims (image, feature)
        C (or 2C) features per layer, coords ``layer``, ``sign`` and ``channel``.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}; got {part!r}.")
    if part == "both":
        return features
    sign = features["sign"].values
    if part == "net":
        pos = features.isel(feature=np.flatnonzero(sign == "pos"))
        net = pos + features.isel(feature=np.flatnonzero(sign == "neg")).values
        return net.assign_coords(sign=("feature", np.full(net.sizes["feature"], "net")))
    out = features.isel(feature=np.flatnonzero(sign == ("pos" if part == "positive" else "neg")))
    return abs(out) if part == "negative" else out


def image_modes(features: xr.DataArray, layers: Sequence[str] | None = None, *, part: str = "positive",
                fit_features: xr.DataArray | None = None, seed: int = 0, device: str | None = "cpu",
                progress: bool | None = None, **sae_params) -> xr.Dataset:
    """One CODEC SAE per layer (group) on per-image contribution (or activation) vectors.

    Parameters
    ----------
    features : xarray.DataArray, dims (image, feature)
        Sign-split features of the images to compute loadings for.
    layers : sequence of str, optional
        One SAE per entry (``"layer3+layer4"`` for one SAE on both); default every layer of
        the features.
    part : {"positive", "negative", "both", "net"}
        :func:`select_part`; the official ResNet run uses the positive parts.
    fit_features : xarray.DataArray, optional
        Samples to train on (default ``features``, as the official run).
    seed : int
        Seeds the SAEs.
    device : str, optional
        Where to train.
    progress : bool, optional
        Progress bars.
    **sae_params
        Overrides of :data:`RESNET_PRESET` or any other
        :class:`~retinacodec.codec.sae.CodecSAE` parameter (``max_epochs``, ``open_fraction`` …).

    Returns
    -------
    xarray.Dataset
        As :func:`retinacodec.codec.fit_modes`: ``modes (mode, feature)``, ``loadings
        (image, mode)``, the features, ``mode_layer``, fit metrics per SAE; image coords
        ``label`` / ``predicted`` kept; attrs ``part`` and the preset.

    Examples
    --------
    >>> from retinacodec import classifiers as cl
    >>> x, y = cl.digits(16)
    >>> net = cl.resnet(depths=(1, 1, 1, 1), widths=(4, 8, 8, 8), in_channels=1, small_input=True, seed=0)
    >>> c = cl.image_contributions(net, x[:64], ["layer4"], "true", labels=y[:64], progress=False)
    >>> modes = cl.image_modes(c, max_epochs=5, progress=False)
    >>> modes["loadings"].dims
    ('image', 'mode')
    """
    layers = list(features.attrs.get("layers", np.unique(features["layer"].values))) if layers is None else layers
    params = {**RESNET_PRESET, **sae_params}
    x = select_part(features, part)
    fit_x = x if fit_features is None else select_part(fit_features, part)
    ds = fit_modes(fit_x, x, layers, sae="codec", seed=seed, device=device, progress=progress, **params)
    ds.attrs.update(part=part, preset="CODEC ResNet (preprocessing/3a_train_saes_resnet.py)",
                    **{f"sae_{k}": str(v) if isinstance(v, tuple) or v is None else int(v) if isinstance(v, bool) else v
                       for k, v in params.items()})
    return ds
