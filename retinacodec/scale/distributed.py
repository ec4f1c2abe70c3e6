"""One model trained by several processes: ``torch.distributed`` set-up, global BatchNorm, DDP wrapping.

``torchrun --nproc-per-node N -m retinacodec fit ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their environment;
:func:`process_group` joins them (gloo on the CPU, nccl on GPUs, one GPU per process).
:func:`distributed_model` makes every BatchNorm use the statistics of the global batch
(:class:`GlobalBatchNorm`) and wraps the model in ``DistributedDataParallel``, which averages
the gradients. This module needs only torch: :func:`retinacodec.model.training.fit` uses it.
"""

from __future__ import annotations

import datetime
import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from retinacodec.device import resolve_device

__all__ = ["ProcessGroup", "process_group", "GlobalBatchNorm", "distributed_model", "all_mean", "any_true"]

_DDP_ARGS = inspect.signature(DistributedDataParallel).parameters
_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in the group.

    Attributes
    ----------
    rank : int
        0 .. world_size - 1; rank 0 writes checkpoints and shows progress.
    world_size : int
        Number of processes.
    device : torch.device
        The device of this process (``cuda:LOCAL_RANK`` on GPUs).
    """

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0


def process_group(device: str | torch.device = "cpu", timeout_s: float = 600.0) -> ProcessGroup:
    """Join (or reuse) the default process group that ``torchrun`` describes in the environment.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"`` (backend gloo) or ``"cuda"`` (backend nccl; this process takes GPU
        ``LOCAL_RANK``).
    timeout_s : float
        How long a collective waits for the other processes.

    Returns
    -------
    ProcessGroup

    Raises
    ------
    ValueError
        If the process was not started by ``torchrun`` (or with its environment variables), or
        CUDA is asked for but this process's GPU does not exist.
    """
    dev = resolve_device(device)
    if not dist.is_initialized():
        missing = [k for k in _ENV if k not in os.environ]
        if missing:
            raise ValueError(
                f"a distributed fit needs the environment torchrun sets ({', '.join(missing)} missing); launch it "
                "with `torchrun --nproc-per-node N -m retinacodec fit ...`, or fit without distributed=True."
            )
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    if dev.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        dev = resolve_device(f"cuda:{local}")
        torch.cuda.set_device(dev)
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), dev)


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of every input is the sum of the gradients of the output."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the global batch, over all processes.

    The same parameters and buffers as the BatchNorm it replaces (so the state dict is the
    same); in training, the per-feature mean and then the biased variance are summed over
    processes (two all-reduces, both differentiable), which gives the statistics a single
    process would compute on the concatenated batch; the running variance gets the unbiased
    estimate, as torch's BatchNorm. In eval mode it is plain BatchNorm on the running statistics.
    ``torch.nn.SyncBatchNorm`` does the same on GPUs only, and would drop the flattening of a
    per-unit BatchNorm (:class:`~retinacodec.model.bncnn.UnitBatchNorm`); this one runs on
    both (gloo and nccl).

    Parameters
    ----------
    bn : torch.nn.modules.batchnorm._BatchNorm
        The BatchNorm to replace; its parameters and buffers are shared, not copied.
    """

    def __init__(self, bn: _BatchNorm) -> None:
        super().__init__(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        self.weight, self.bias = bn.weight, bn.bias
        self.running_mean, self.running_var = bn.running_mean, bn.running_var
        self.num_batches_tracked = bn.num_batches_tracked
        # UnitBatchNorm normalises the flattened (channel, y, x) map with one statistic per unit
        self.flatten_units = isinstance(bn, nn.BatchNorm1d) and type(bn).forward is not nn.BatchNorm1d.forward

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.ndim < 2:
            raise ValueError(f"expected an input of at least 2 dimensions (batch, feature, ...); got {x.ndim}.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.flatten(1) if self.flatten_units else x
        if not self.training or not dist.is_initialized():
            out = F.batch_norm(z, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                               self.momentum, self.eps)
            return out.view_as(x)
        dims = [0, *range(2, z.ndim)]
        shape = [1, z.shape[1]] + [1] * (z.ndim - 2)
        count = torch.tensor(float(z.numel() // z.shape[1]), device=z.device)
        dist.all_reduce(count)
        mean = _AllReduceSum.apply(z.sum(dims)) / count
        centred = z - mean.view(shape)
        var = _AllReduceSum.apply(centred.pow(2).sum(dims)) / count
        out = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * count / (count - 1).clamp(min=1))
        return out.view_as(x)


def _global_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm below ``module`` (in place) by a :class:`GlobalBatchNorm`."""
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and not isinstance(child, GlobalBatchNorm):
            setattr(module, name, GlobalBatchNorm(child))
        else:
            _global_batchnorm(child)
    return module


def distributed_model(model: nn.Module, group: ProcessGroup) -> DistributedDataParallel:
    """Global-batch BatchNorm and gradient averaging over the process group.

    Parameters
    ----------
    model : torch.nn.Module
        Already on ``group.device``; its BatchNorms are replaced in place, sharing their
        parameters and buffers, so ``model.state_dict()`` keeps its keys and values.
    group : ProcessGroup

    Returns
    -------
    torch.nn.parallel.DistributedDataParallel
        The wrapper to train (``.module`` is ``model``). Rank 0's weights are broadcast at
        construction; buffers are not re-broadcast (global BatchNorm keeps them equal).
    """
    _global_batchnorm(model)
    ids = [group.device.index] if group.device.type == "cuda" else None
    no_buffer_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in _DDP_ARGS
                      else {"broadcast_buffers": False})  # torch < 2.12
    return DistributedDataParallel(model, device_ids=ids, **no_buffer_sync)


def all_mean(value: float, device: torch.device) -> float:
    """Mean of a number over the processes (the number itself outside a process group)."""
    if not dist.is_initialized():
        return float(value)
    t = torch.tensor(float(value), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / dist.get_world_size()


def any_true(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is true in any process, so that all processes take the same branch."""
    if not dist.is_initialized():
        return bool(flag)
    t = torch.tensor(int(flag), device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t)
