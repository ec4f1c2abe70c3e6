"""Beyond one process: one fit over several processes or GPUs, analyses and sweeps on a Dask cluster.

- :mod:`retinacodec.scale.distributed` (torch only): ``fit(..., distributed=True)`` under
  ``torchrun`` — process group, global-batch BatchNorm, DistributedDataParallel.
- :mod:`retinacodec.scale.cluster` (needs the ``scale`` extra: ``pip install retinacodec[scale]``):
  contributions, STAs and instantaneous receptive fields of long recordings as chunked tasks
  on a ``dask.distributed`` cluster, written in place to one Zarr store; fits of many
  recordings, seeds or hyper-parameters as tasks, their evaluations gathered in one Dataset.

The cluster functions are imported on first use, so that importing retinacodec never needs Dask.
"""

from retinacodec.scale.distributed import GlobalBatchNorm, ProcessGroup, distributed_model, process_group

_CLUSTER = ("cluster_client", "contributions_on_cluster", "irf_on_cluster", "sta_on_cluster", "sweep")

__all__ = ["GlobalBatchNorm", "ProcessGroup", "distributed_model", "process_group", *_CLUSTER]


def __getattr__(name: str):  # noqa: ANN202
    if name in _CLUSTER:
        from retinacodec.scale import cluster

        return getattr(cluster, name)
    raise AttributeError(f"module 'retinacodec.scale' has no attribute {name!r}")
