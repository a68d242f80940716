"""Labels: what happened after a signal, named with horizon and lag so they are never mistaken for
features (``fwd_ret_3d_lag1``). Forward returns with an explicit execution lag, abnormal return vs an
index, circuit hits and a blocked-entry flag (:mod:`earnest.labels.forward`); triple-barrier labels
(:mod:`earnest.labels.barriers`). Labels never feed features.
"""

from __future__ import annotations

from earnest.labels.barriers import Barriers, triple_barrier
from earnest.labels.forward import (
    DEFAULT_TICK,
    attach_bands,
    daily_forward_returns,
    forward_returns,
    label_suffix,
)

__all__ = [
    "DEFAULT_TICK",
    "Barriers",
    "attach_bands",
    "daily_forward_returns",
    "forward_returns",
    "label_suffix",
    "triple_barrier",
]
