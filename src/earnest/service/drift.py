"""Feature drift: the population stability index (PSI) of recently served feature values against
the model's training window.

A :class:`Reference` is a feature's training-window distribution: the inner edges of its quantile
bins and the share of training values in each bin. The PSI of served values is

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

over the bins, ``e_i`` the training share and ``a_i`` the served share (both floored at
:data:`EPSILON` so an empty bin does not give infinity). Common reading: below 0.1 stable, 0.1 to
0.25 a moderate shift, above 0.25 a large one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

EPSILON = 1e-4
"""Floor of a bin share in the PSI sum."""


@dataclass(frozen=True)
class Reference:
    """A feature's training distribution: ``edges`` (inner bin edges, ascending; ``k`` edges make
    ``k + 1`` bins, the outer ones open) and ``shares`` (training share per bin, summing to 1)."""

    edges: tuple[float, ...]
    shares: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.shares) != len(self.edges) + 1:
            raise ValueError(
                f"{len(self.edges)} edges need {len(self.edges) + 1} shares, got {len(self.shares)}"
            )

    def to_dict(self) -> dict[str, list[float]]:
        return {"edges": list(self.edges), "shares": list(self.shares)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reference:
        return cls(tuple(float(x) for x in data["edges"]), tuple(float(x) for x in data["shares"]))


def bin_shares(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """The share of the finite ``values`` in each bin cut at ``edges`` (a value equal to an edge goes
    to the bin above it)."""
    finite = values[np.isfinite(values)]
    counts = np.bincount(np.searchsorted(np.asarray(edges), finite, side="right"), minlength=len(edges) + 1)
    total = counts.sum()
    return counts / total if total else np.zeros(len(edges) + 1)


def reference_from_values(values: Iterable[float], *, bins: int = 10) -> Reference:
    """The :class:`Reference` of training ``values``: quantile bins (``bins`` of them where the
    values are distinct enough; repeated quantiles are merged)."""
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return Reference((), (1.0,))
    edges = tuple(float(e) for e in np.unique(np.quantile(arr, np.linspace(0, 1, bins + 1)[1:-1])))
    return Reference(edges, tuple(float(s) for s in bin_shares(arr, edges)))


def psi(reference: Reference, values: np.ndarray) -> float | None:
    """The PSI of ``values`` against ``reference`` (None without finite values)."""
    if not np.isfinite(values).any():
        return None
    actual = np.maximum(bin_shares(values, reference.edges), EPSILON)
    expected = np.maximum(np.asarray(reference.shares), EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


class DriftMonitor:
    """The last ``window`` served values of each referenced feature, and their PSI once at least
    ``min_count`` values were served (fewer make the PSI mostly noise). Thread-safe."""

    def __init__(
        self, reference: Mapping[str, Reference], *, window: int = 5000, min_count: int = 100
    ) -> None:
        self.reference = dict(reference)
        self.min_count = min_count
        self._values: dict[str, deque[float]] = {k: deque(maxlen=window) for k in self.reference}
        self._lock = threading.Lock()

    def observe(self, rows: Iterable[Mapping[str, float | None]]) -> None:
        """Record served feature values (None: unknown, ignored)."""
        with self._lock:
            for row in rows:
                for name, buf in self._values.items():
                    value = row.get(name)
                    if value is not None:
                        buf.append(float(value))

    def psi(self) -> dict[str, float]:
        """PSI per referenced feature with at least ``min_count`` served values."""
        with self._lock:
            snapshot = {
                k: np.fromiter(v, dtype=np.float64)
                for k, v in self._values.items()
                if len(v) >= self.min_count
            }
        out = {}
        for name, values in snapshot.items():
            got = psi(self.reference[name], values)
            if got is not None:
                out[name] = got
        return out


__all__ = ["EPSILON", "DriftMonitor", "Reference", "bin_shares", "psi", "reference_from_values"]
