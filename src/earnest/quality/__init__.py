"""The quality gate: row rules, instrument resolution and quarantine, plus the quality report.

:func:`gate` turns a reader's :class:`~earnest.sources.base.ParsedFile` into an
:class:`~earnest.store.IngestBatch` in which every data row is either kept or quarantined with
its line, field, rule and reason; :func:`load_context` reads what the rules need from the store;
:func:`quality_report` summarises what was quarantined and flagged.
"""

from earnest.quality.gate import GateContext, gate, load_context
from earnest.quality.report import QualityReport, quality_report

__all__ = ["GateContext", "QualityReport", "gate", "load_context", "quality_report"]
