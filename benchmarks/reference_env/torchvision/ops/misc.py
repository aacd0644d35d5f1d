"""``FrozenBatchNorm2d``: laion_clap's ``freeze_batch_norm_2d`` (training only) builds it; here it raises."""

from .. import unavailable

FrozenBatchNorm2d = unavailable("FrozenBatchNorm2d")
