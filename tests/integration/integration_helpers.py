"""Helpers shared by the integration tests (a uniquely named module: ``conftest`` is ambiguous
when pytest collects several test folders): a webhook receiver and a promoted model registry."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver: records each POST's Idempotency-Key and JSON body, answers 200."""

    got: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append({"key": self.headers.get("Idempotency-Key"), "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def promoted_registry(home: Path, config: dict[str, Any]) -> Any:
    """A local MLflow registry under ``home`` holding a logistic model on ``config``'s features,
    registered with ``config`` and promoted to production (its gate is tested elsewhere)."""
    import numpy as np

    from earnest.models.card import Lineage, ModelCard
    from earnest.models.estimators import make_estimator
    from earnest.models.gate import GateResult
    from earnest.models.registry import Registry

    features = list(config["dataset"]["features"])
    name = config["register"]["name"]
    registry = Registry.local(home)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(features)))
    model = make_estimator("logistic", "classification", seed=0).fit(x, (x[:, 0] > 0).astype(int))
    lineage = Lineage(
        data_hash="d" * 64,
        features=dict.fromkeys(features, "1"),
        label_spec="win_5s_at_open",
        config_hash="c" * 64,
        code_version="test",
        seed=0,
        hypothesis=config["hypothesis"]["question"],
    )
    card = ModelCard(name=name, intended_use="test", lineage=lineage)
    out = registry.register(
        name,
        model,
        features=features,
        lineage=lineage,
        metrics={},
        oos=None,
        card=card,
        gate=None,
        config=config,
    )
    passed = GateResult.from_dict(
        {"passed": True, "reasons": ["test"], "p": 0.001, "p_adjusted": 0.002, "n_trials": 1, "effect": 0.1,
         "t_stat": 4.0, "rank_ic": 0.1, "rank_ic_t": 3.0, "baseline_rank_ic": 0.0, "n_dates": 30, "lags": 2,
         "alpha": 0.05, "criteria": {}}
    )  # fmt: skip
    registry.promote(name, out.version, gate=passed)
    return registry
