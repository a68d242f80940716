"""The hypothesis lab: a hypothesis is the unit of work. Pure statistics (:mod:`earnest.lab.stats`:
event-study tests, a mean robust to clustered dates and overlapping windows, binomial tests,
Benjamini-Hochberg) and power (:mod:`earnest.lab.power`: power, minimum detectable effect, events
needed).
"""

from __future__ import annotations

from earnest.lab.power import events_needed, mde_from_se, power_curve, power_from_se
from earnest.lab.stats import (
    BinomialResult,
    MeanEstimate,
    TestResult,
    TestTable,
    benjamini_hochberg,
    binomial,
    clustered_mean,
    event_study_tests,
    iid_mean,
)

__all__ = [
    "BinomialResult",
    "MeanEstimate",
    "TestResult",
    "TestTable",
    "benjamini_hochberg",
    "binomial",
    "clustered_mean",
    "event_study_tests",
    "events_needed",
    "iid_mean",
    "mde_from_se",
    "power_curve",
    "power_from_se",
]
