"""The Baccus-lab 3-layer CNN retina model (``BNCNN``) and its variants.

McIntosh et al. (NeurIPS 2016); Tanaka et al. (NeurIPS 2019); Maheswaranathan et al.
(Neuron 2023). The published defaults (METHODS.md §1): 40 frames of history stacked as
input channels, conv 8@15×15 → BatchNorm → Gaussian noise σ=0.05 → ReLU, conv 8@11×11 →
same, a fully connected readout → BatchNorm → Softplus giving the expected spike count per
frame of each ganglion cell.

Submodules are named ``layer1``, ``layer2`` and ``readout`` (the dense readout, or with
``readout="conv"`` the third convolution read out at each cell's receptive-field centre) so
that analyses can hook layers by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

__all__ = ["BNCNNConfig", "BNCNN", "GaussianNoise", "SeparableConv2d", "StackedConv2d", "PRESETS", "PUBLISHED_PRESETS",
           "auto_kernel_sizes", "preset_config"]


class GaussianNoise(nn.Module):
    """Add zero-mean Gaussian noise of standard deviation ``std`` while training.

    Parameters
    ----------
    std : float
        Noise standard deviation in activation units; identity in eval mode.
    """

    def __init__(self, std: float = 0.05) -> None:
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.std > 0:
            return x + self.std * torch.randn_like(x)
        return x

    def extra_repr(self) -> str:
        return f"std={self.std}"


class StackedConv2d(nn.Sequential):
    """A ``k×k`` valid convolution built from ``(k - 1) / 2`` linear 3×3 convolutions.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the first input and of every intermediate and final output.
    kernel_size : int
        The receptive field of the whole stack; odd and >= 3.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"a stacked convolution needs an odd kernel_size >= 3; got {kernel_size}.")
        n = (kernel_size - 1) // 2
        convs = [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3) for i in range(n)]
        super().__init__(*convs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size

    @torch.no_grad()
    def collapse(self) -> nn.Conv2d:
        """Return the single ordinary convolution this linear stack computes.

        The stack is linear, so its response to zeros is the bias, and its response to a unit
        impulse at the centre ``(k - 1, k - 1)`` of input channel ``i`` of a ``(2k - 1)²``
        image, minus the bias, is a ``k×k`` map whose value at ``(u, v)`` is the weight
        ``W[:, i, k - 1 - u, k - 1 - v]``: one impulse per input channel gives the whole kernel.

        Returns
        -------
        torch.nn.Conv2d
            ``in_channels → out_channels``, ``kernel_size × kernel_size``, same outputs.
        """
        k, c = self.kernel_size, self.in_channels
        ref = next(self.parameters())
        zero = torch.zeros(1, c, k, k, dtype=ref.dtype, device=ref.device)
        bias = super().forward(zero).reshape(-1)
        impulses = torch.zeros(c, c, 2 * k - 1, 2 * k - 1, dtype=ref.dtype, device=ref.device)
        impulses[torch.arange(c), torch.arange(c), k - 1, k - 1] = 1.0
        resp = super().forward(impulses) - bias[:, None, None]  # (in channel, out channel, k, k)
        conv = nn.Conv2d(c, self.out_channels, k).to(device=ref.device, dtype=ref.dtype)
        conv.weight.copy_(resp.flip(-2, -1).transpose(0, 1))
        conv.bias.copy_(bias)
        return conv


class SeparableConv2d(nn.Module):
    """A space–time separable ``k×k`` convolution of the stimulus history: a sum of ``rank`` temporal × spatial filters.

    Output channel ``c`` is ``Σ_r S_rc ⋆ (Σ_t T_rc[t] · x_t) + b_c``: each of ``rank`` temporal
    filters weighs the ``in_channels`` history frames, and its own ``k×k`` spatial filter is
    applied to the result (a valid cross-correlation, computed by FFT: on the CPU the
    backward pass of a depthwise convolution is several times slower). It computes what an
    ordinary convolution with the weight ``W[c, t] = Σ_r T_rc[t] S_rc`` computes
    (:meth:`collapse`), with ``rank · (in_channels + k²)`` instead of ``in_channels · k²``
    weights per channel, in about a fifth of the time per training step on 50×50 frames with
    40 frames of history (rank 1; ``benchmarks/README.md``).

    Parameters
    ----------
    in_channels, out_channels : int
        History frames in, channels out.
    kernel_size : int
        Edge of the spatial filters, pixels.
    rank : int
        Temporal × spatial pairs per output channel.

    Attributes
    ----------
    temporal : torch.nn.Parameter, shape (rank, out_channels, in_channels)
    spatial : torch.nn.Parameter, shape (rank, out_channels, kernel_size, kernel_size)
    bias : torch.nn.Parameter, shape (out_channels,)
    is_affine : bool
        True: the attribution engine may evaluate it at a path's two ends only.
    """

    is_affine = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, rank: int = 1) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"a separable convolution needs rank >= 1; got {rank}.")
        self.in_channels, self.out_channels, self.kernel_size, self.rank = in_channels, out_channels, kernel_size, rank
        # PyTorch's default initialisation of each factor as a 1x1 and a depthwise k x k convolution
        temporal = nn.Conv2d(in_channels, out_channels * rank, 1).weight.detach()
        spatial = [nn.Conv2d(out_channels, out_channels, kernel_size, groups=out_channels) for _ in range(rank)]
        self.temporal = nn.Parameter(temporal.reshape(rank, out_channels, in_channels))
        self.spatial = nn.Parameter(torch.stack([conv.weight.detach()[:, 0] for conv in spatial]) / math.sqrt(rank))
        self.bias = nn.Parameter(spatial[0].bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ny, nx = x.shape[-2:]
        k = self.kernel_size
        z = torch.einsum("bthw,rct->brchw", x, self.temporal)
        kernel = torch.fft.rfft2(self.spatial.flip(-2, -1), s=(ny, nx))  # correlation = convolution with the flip
        y = torch.fft.irfft2((torch.fft.rfft2(z) * kernel).sum(1), s=(ny, nx))
        return y[..., k - 1 :, k - 1 :] + self.bias[:, None, None]

    @torch.no_grad()
    def collapse(self) -> nn.Conv2d:
        """Return the ordinary convolution with the same outputs.

        Returns
        -------
        torch.nn.Conv2d
            ``in_channels → out_channels``, ``kernel_size × kernel_size``, with weight
            ``Σ_r T_r[c, t] · S_r[c, y, x]``.
        """
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size).to(self.temporal)
        conv.weight.copy_(torch.einsum("rct,rcyx->ctyx", self.temporal, self.spatial))
        conv.bias.copy_(self.bias)
        return conv

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, rank={self.rank}"


@dataclass
class BNCNNConfig:
    """Architecture of a :class:`BNCNN`; everything ``load_model`` needs to rebuild it.

    Parameters
    ----------
    n_cells : int
        Number of ganglion cells (outputs).
    history : int
        Stimulus frames stacked as input channels (40 = 400 ms at 100 Hz).
    input_size : tuple of int
        ``(ny, nx)`` stimulus pixels.
    channels : tuple of int
        Channels of the hidden convolutional layers.
    kernel_sizes : tuple of int
        Kernel edge of each hidden convolutional layer, in pixels.
    noise_std : float
        Gaussian noise added after each BatchNorm while training.
    stacked : bool
        Build each convolution from linear 3×3 convolutions (Maheswaranathan et al. 2023).
    separable : int
        0 (published): layer 1 is an ordinary convolution. ``r >= 1``: layer 1 is a
        :class:`SeparableConv2d` of rank ``r`` (space–time separable filters, as openretina's
        factorised core), far faster and needing less data on large frames; :meth:`BNCNN.collapse`
        turns it into the equivalent ordinary convolution.
    readout : {"dense", "conv"}
        Fully connected readout, or a third convolution read at each cell's RF centre.
    readout_kernel : int
        Kernel of the convolutional readout layer.
    cell_positions : list of (float, float)
        ``(y, x)`` RF centres in input pixels, needed for ``readout="conv"``.
    batchnorm_momentum : float
        Momentum of the BatchNorm running statistics.
    batchnorm : {"channel", "unit"}
        ``"channel"``: one BatchNorm per channel of each hidden layer (``BatchNorm2d``);
        ``"unit"``: one per unit (channel × y × x), as torch-deep-retina's BNCNN
        (``BatchNorm1d`` over the flattened map, eps 1e-3; the readout's eps is 1e-3 too).
    """

    n_cells: int
    history: int = 40
    input_size: tuple[int, int] = (50, 50)
    channels: tuple[int, ...] = (8, 8)
    kernel_sizes: tuple[int, ...] = (15, 11)
    noise_std: float = 0.05
    stacked: bool = False
    separable: int = 0
    readout: str = "dense"
    readout_kernel: int = 11
    cell_positions: list[tuple[float, float]] = field(default_factory=list)
    batchnorm_momentum: float = 0.1
    batchnorm: str = "channel"

    def __post_init__(self) -> None:
        self.input_size = tuple(int(v) for v in self.input_size)
        self.channels = tuple(int(v) for v in self.channels)
        self.kernel_sizes = tuple(int(v) for v in self.kernel_sizes)
        self.cell_positions = [(float(y), float(x)) for y, x in self.cell_positions]
        if len(self.channels) != len(self.kernel_sizes) or not self.channels:
            raise ValueError(
                f"channels {self.channels} and kernel_sizes {self.kernel_sizes} must be non-empty "
                "and of the same length."
            )
        if self.n_cells < 1:
            raise ValueError(f"n_cells must be >= 1; got {self.n_cells}.")
        if self.separable < 0 or (self.separable and self.stacked):
            raise ValueError(f"separable must be 0 (an ordinary layer 1) or a rank >= 1, and not combined with "
                             f"stacked; got separable={self.separable}, stacked={self.stacked}.")
        if self.readout not in ("dense", "conv"):
            raise ValueError(f"readout must be 'dense' or 'conv'; got {self.readout!r}.")
        if self.batchnorm not in ("channel", "unit"):
            raise ValueError(f"batchnorm must be 'channel' or 'unit'; got {self.batchnorm!r}.")
        if self.readout == "conv" and len(self.cell_positions) != self.n_cells:
            raise ValueError(
                f"readout='conv' needs one (y, x) RF centre per cell ({self.n_cells}); got "
                f"{len(self.cell_positions)}. Estimate them with retinacodec.rf.rf_centres()."
            )
        size = self.hidden_sizes()[-1]
        if min(size) < 1:
            raise ValueError(
                f"the input {self.input_size} is too small for kernels {self.kernel_sizes}"
                + (f" + readout kernel {self.readout_kernel}" if self.readout == "conv" else "")
                + "; use smaller kernels or a larger stimulus."
            )

    def hidden_sizes(self) -> list[tuple[int, int]]:
        """Spatial output size ``(ny, nx)`` of each convolutional layer (valid convolutions)."""
        ny, nx = self.input_size
        kernels = list(self.kernel_sizes) + ([self.readout_kernel] if self.readout == "conv" else [])
        sizes = []
        for k in kernels:
            ny, nx = ny - k + 1, nx - k + 1
            sizes.append((ny, nx))
        return sizes

    def to_dict(self) -> dict:
        """A plain-dict form (lists instead of tuples) for checkpoints and JSON."""
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["channels"] = list(self.channels)
        d["kernel_sizes"] = list(self.kernel_sizes)
        d["cell_positions"] = [list(p) for p in self.cell_positions]
        return d


class BNCNN(nn.Module):
    """The Baccus-lab CNN retina model.

    Parameters
    ----------
    config : BNCNNConfig
        The architecture.

    Notes
    -----
    ``forward`` takes ``(batch, history, ny, nx)`` z-scored stimulus windows and returns
    ``(batch, n_cells)`` expected spike counts per frame (multiply by the frame rate for Hz).
    """

    def __init__(self, config: BNCNNConfig) -> None:
        super().__init__()
        self.config = config
        in_ch = config.history
        sizes = config.hidden_sizes()
        for i, (ch, k) in enumerate(zip(config.channels, config.kernel_sizes, strict=True)):
            if config.separable and i == 0:
                conv = SeparableConv2d(in_ch, ch, k, config.separable)
            else:
                conv = StackedConv2d(in_ch, ch, k) if config.stacked else nn.Conv2d(in_ch, ch, k)
            layer = nn.Sequential()
            layer.add_module("conv", conv)
            if config.batchnorm == "unit":
                bn = UnitBatchNorm(ch * sizes[i][0] * sizes[i][1], eps=1e-3, momentum=config.batchnorm_momentum)
            else:
                bn = nn.BatchNorm2d(ch, momentum=config.batchnorm_momentum)
            layer.add_module("bn", bn)
            layer.add_module("noise", GaussianNoise(config.noise_std))
            layer.add_module("relu", nn.ReLU())
            self.add_module(f"layer{i + 1}", layer)
            in_ch = ch
        if config.readout == "dense":
            ny, nx = sizes[-1]
            self.readout = nn.Sequential()
            self.readout.add_module("flatten", nn.Flatten())
            self.readout.add_module("linear", nn.Linear(in_ch * ny * nx, config.n_cells))
        else:
            self.readout = ConvReadout(in_ch, config, sizes[-1])
        eps = 1e-3 if config.batchnorm == "unit" else 1e-5
        self.readout.add_module("bn", nn.BatchNorm1d(config.n_cells, eps=eps, momentum=config.batchnorm_momentum))
        self.readout.add_module("softplus", nn.Softplus())

    @property
    def hidden_layers(self) -> list[str]:
        """Names of the hidden convolutional layers, input to output."""
        return [f"layer{i + 1}" for i in range(len(self.config.channels))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.hidden_layers:
            x = getattr(self, name)(x)
        return self.readout(x)

    def collapse(self) -> BNCNN:
        """Replace every stacked or separable convolution by the equivalent single convolution, in place.

        Returns
        -------
        BNCNN
            ``self``, now with ``config.stacked = False`` and ``config.separable = 0``: the
            published architecture, with the same outputs.
        """
        for name in self.hidden_layers:
            layer = getattr(self, name)
            if isinstance(layer.conv, StackedConv2d | SeparableConv2d):
                layer.conv = layer.conv.collapse()
        self.config = replace(self.config, stacked=False, separable=0)
        return self


class UnitBatchNorm(nn.BatchNorm1d):
    """BatchNorm with one mean, variance, scale and shift per unit of a (channel, y, x) map.

    ``BatchNorm1d`` over the flattened map: (batch, C, H, W) → (batch, C, H, W), with
    ``num_features = C * H * W`` (channel-major, as ``flatten`` orders units).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(1)).view_as(x)


class ConvReadout(nn.Sequential):
    """A convolution with one output channel per cell, read at each cell's RF centre.

    Parameters
    ----------
    in_channels : int
        Channels of the last hidden layer.
    config : BNCNNConfig
        Supplies ``n_cells``, ``readout_kernel``, ``kernel_sizes`` and ``cell_positions``.
    out_size : tuple of int
        ``(ny, nx)`` of this layer's output map.
    """

    def __init__(self, in_channels: int, config: BNCNNConfig, out_size: tuple[int, int]) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_channels, config.n_cells, config.readout_kernel))
        self.add_module("select", _CellSelect(_readout_indices(config, out_size)))


class _CellSelect(nn.Module):
    """Pick ``map[b, c, y_c, x_c]`` for each cell ``c``: (batch, cells, ny, nx) → (batch, cells)."""

    def __init__(self, index: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        return flat.gather(2, self.index.view(1, -1, 1).expand(x.shape[0], -1, 1)).squeeze(2)


def _readout_indices(config: BNCNNConfig, out_size: tuple[int, int]) -> list[int]:
    """Flat index into the readout map of each cell's RF centre (clipped to the map)."""
    offset = sum((k - 1) / 2 for k in config.kernel_sizes) + (config.readout_kernel - 1) / 2
    ny, nx = out_size
    idx = []
    for y, x in config.cell_positions:
        iy = min(max(int(math.floor(y - offset + 0.5)), 0), ny - 1)
        ix = min(max(int(math.floor(x - offset + 0.5)), 0), nx - 1)
        idx.append(iy * nx + ix)
    return idx


PRESETS: dict[str, dict] = {
    # The published architecture (METHODS.md §1) for a 50×50, 40-frame input.
    "default": {"channels": (8, 8), "kernel_sizes": (15, 11)},
    # The shipped sample is 20×20 pixels: kernels scaled so the hidden maps stay large enough
    # (20 → 12 → 6 pixels) and one epoch of the sample takes seconds on a laptop CPU.
    "sample": {"channels": (8, 8), "kernel_sizes": (9, 7)},
    # 2023-paper variant: every kernel a stack of linear 3×3 convolutions.
    "stacked": {"channels": (8, 8), "kernel_sizes": (15, 11), "stacked": True},
    # The published kernels with a space-time separable (rank-1) layer 1: fast on large frames.
    "separable": {"channels": (8, 8), "kernel_sizes": (15, 11), "separable": 1},
}


#: The presets that are published architectures: ``fit`` trains them as the papers do (no weight average).
PUBLISHED_PRESETS: tuple[str, ...] = ("default", "sample", "stacked")


def _odd_at_most(x: float) -> int:
    """The largest odd integer <= ``x`` (at least 1)."""
    return max(1, 2 * int((x - 1) // 2) + 1)


def auto_kernel_sizes(input_size: tuple[int, int]) -> tuple[int, int]:
    """Kernel sizes of the two hidden layers chosen from the stimulus size.

    ================================  ===============================================
    smaller frame side ``s`` (px)     kernels
    ================================  ===============================================
    1 (full field)                    1, 1: a temporal-only model
    2 .. 39                           largest odd sizes <= 0.45 s and <= 0.35 s, at
                                      most 15 and 11 (20 px: 9, 7 as the ``sample``
                                      preset; 10 px: 3, 3; 5 px or less: 1, 1)
    40 or more                        15, 11: the published architecture
    ================================  ===============================================

    Parameters
    ----------
    input_size : (int, int)
        ``(ny, nx)`` stimulus pixels.

    Returns
    -------
    (int, int)
        Kernel edges of layer 1 and layer 2, pixels.
    """
    side = min(int(v) for v in input_size)
    if side >= 40:
        return 15, 11
    return min(15, _odd_at_most(0.45 * side)), min(11, _odd_at_most(0.35 * side))


def preset_config(name: str, n_cells: int, input_size: tuple[int, int], history: int = 40, **overrides) -> BNCNNConfig:
    """Build a :class:`BNCNNConfig` from a named preset.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS`, or ``"auto"``: 8 and 8 channels with kernel sizes chosen
        from ``input_size`` by :func:`auto_kernel_sizes`, and a space–time separable layer 1
        of rank 1 wherever its kernel is larger than 1×1 (:class:`SeparableConv2d`). Within
        the same CPU budget it reaches a higher r with the true rate than the published layer
        (``benchmarks/README.md``; 2 threads, seed 0):

        ==========================================  =================  ==============
        recording, budget                           published layer 1  separable
        ==========================================  =================  ==============
        sample (20×20, 20-min white noise), 2 min   0.850 (6 epochs)   0.942 (9)
        50×50 white noise (30 min), 20 min          0.569 (1)          0.851 (6)
        ==========================================  =================  ==============

        The published architecture is ``"default"`` (and ``"sample"`` its 20×20 sizes).
    n_cells : int
        Number of output cells.
    input_size : tuple of int
        ``(ny, nx)`` stimulus pixels.
    history : int
        Frames of history.
    **overrides
        Any other :class:`BNCNNConfig` field.

    Returns
    -------
    BNCNNConfig
    """
    if name == "auto":
        kernels = auto_kernel_sizes(input_size)
        params = {"channels": (8, 8), "kernel_sizes": kernels, "separable": int(kernels[0] > 1), **overrides}
        return BNCNNConfig(n_cells=n_cells, input_size=tuple(input_size), history=history, **params)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {['auto', *sorted(PRESETS)]}.")
    params = {**PRESETS[name], **overrides}
    return BNCNNConfig(n_cells=n_cells, input_size=tuple(input_size), history=history, **params)
