"""Sparse autoencoders that turn contribution vectors into modes (CODEC step 2).

Three estimators with scikit-learn conventions (``fit`` returns self, ``transform`` gives
the codes, i.e. the mode loadings; learned attributes end in ``_``):

- :class:`CodecSAE`: CODEC's thresholded-sigmoid SAE (METHODS.md §3);
- :class:`TopKSAE`: TopK (Gao et al. 2024) or, with ``batch_topk=True``, BatchTopK
  (Bussmann et al. 2024);
- :class:`ReLUSAE`: ReLU codes with an L1 penalty.

Each holds samples out (randomly, or in contiguous chunks for time bins), stops early on
their reconstruction error, drops dead atoms and reports ``metrics_`` (R², L0, dead and
dense fractions) on them::

    sae = TopKSAE(k=4, split="contiguous").fit(X)     # X: (n_frames, n_features)
    loadings = sae.transform(X)                        # (n_frames, n_modes_kept)
    sae.modes_                                         # (n_modes_kept, n_features)
"""

from retinacodec.codec.sae.base import BaseSAE
from retinacodec.codec.sae.codec import CodecSAE
from retinacodec.codec.sae.metrics import code_statistics, r2_score
from retinacodec.codec.sae.relu import ReLUSAE
from retinacodec.codec.sae.topk import TopKSAE

__all__ = ["BaseSAE", "CodecSAE", "ReLUSAE", "TopKSAE", "code_statistics", "r2_score"]
