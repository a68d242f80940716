"""The model registry: MLflow tracking and model registry, SQLite under the earnest home by default.

:class:`Registry` wraps an :class:`mlflow.MlflowClient` on any tracking URI (``Registry.local(home)``
uses ``sqlite:///<home>/mlflow/mlflow.db`` with artefacts under ``<home>/mlflow/artifacts``; any
MLflow server works by URI). :meth:`Registry.register` logs one run per model version:

- the estimator in MLflow's ``sklearn`` flavour, serialised with **skops** (not pickle) with a
  signature and an input example naming the features in order; loading trusts only the estimator
  types listed in :data:`TRUSTED_TYPES` (earnest's list, not one read from the artefact);
- params (the estimator's simple hyper-parameters), metrics, the lineage as ``earnest.lineage.*``
  tags and as ``lineage.json``, the model card as ``MODEL_CARD.md``, the out-of-sample predictions as
  ``oos.parquet`` and the gate result (if any) as ``gate.json`` and version tags;

and creates a new version of the registered model. :meth:`Registry.promote` moves the
``production`` alias only when the statistical gate (:mod:`earnest.models.gate`) passed.

Importing MLflow is slow (seconds), so it happens on first use. Before it, this module turns off
MLflow's usage telemetry (``MLFLOW_DISABLE_TELEMETRY``, unless set) and quietens its loggers.
"""

from __future__ import annotations

import datetime as dt
import difflib
import getpass
import json
import logging
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from earnest.core.errors import ConfigError, DataError, EarnestError, NotFoundError
from earnest.models.card import Lineage, LoadedModel, ModelCard, ModelInfo, RegisteredModel
from earnest.models.estimators import score
from earnest.models.gate import GateResult

__all__ = [
    "PRODUCTION",
    "TRUSTED_TYPES",
    "LoadedModel",
    "ModelInfo",
    "PromotionRefusedError",
    "RegisteredModel",
    "Registry",
]

PRODUCTION = "production"
"""The alias a promoted version carries."""

TRUSTED_TYPES: tuple[str, ...] = (
    "collections.OrderedDict",
    "numpy.dtype",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
    "earnest.models.sequence.LSTMAttentionClassifier",
    "earnest.models.sequence.LSTMAttentionRegressor",
)
"""Types skops may rebuild beyond its own safe defaults (scikit-learn, numpy arrays): those of the
logistic pipeline (its imputer keeps a ``numpy.dtype``), LightGBM, XGBoost and earnest's own LSTM
sequence models (their state is numpy arrays, see :mod:`earnest.models.sequence`). Anything else is
refused at registration rather than pickled."""

_WHERE = "earnest.models.registry"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_EXPERIMENT = "earnest"
_TAG = "earnest."


class PromotionRefusedError(EarnestError):
    """A model version was not promoted because the statistical gate did not pass."""


def _mlflow() -> Any:
    """MLflow, imported with telemetry off and its loggers quiet."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import mlflow

    return mlflow


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid model name {name!r}",
            remedy="use letters, digits, '_', '-' and '.', starting with a letter or digit",
            field="name",
            file=_WHERE,
        )


def _trusted_types(estimator: Any) -> list[str]:
    """The non-default types skops needs to rebuild ``estimator``; all must be in TRUSTED_TYPES."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=sio.dumps(estimator))
    unknown = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unknown:
        raise ConfigError(
            f"cannot register a {type(estimator).__name__}: skops would have to trust {', '.join(unknown)}",
            remedy="register an estimator from earnest.models.estimators.make_estimator",
            field="estimator",
            file=_WHERE,
        )
    return sorted(untrusted)


def _simple_params(estimator: Any) -> dict[str, str]:
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    out = {"estimator": f"{type(estimator).__module__}.{type(estimator).__name__}"}
    for key, value in sorted(params.items()):
        if value is None or isinstance(value, str | int | float | bool):
            out[key] = str(value)[:500]
    return out


def _lineage_tags(lineage: Lineage) -> dict[str, str]:
    tags = {f"{_TAG}lineage.{k}": str(v) for k, v in lineage.to_dict().items() if k != "features"}
    tags[f"{_TAG}lineage.n_features"] = str(len(lineage.features))
    return tags


def _ms_to_datetime(ms: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp((ms or 0) / 1000.0, tz=dt.UTC)


def _paged(search: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = search(page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


class Registry:
    """earnest's model registry on an MLflow tracking + registry server (or a local SQLite file).

    ``tracking_uri`` is any MLflow tracking URI (``sqlite:///...``, ``http://host:5000``);
    ``artifact_root`` is where a new experiment keeps its artefacts (ignored when the experiment
    exists). For a ``sqlite:///`` URI it defaults to ``artifacts/`` beside the database file; for a
    server, None lets the server choose.
    """

    def __init__(self, tracking_uri: str, *, artifact_root: Path | None = None) -> None:
        self.tracking_uri = tracking_uri
        if artifact_root is None and tracking_uri.startswith("sqlite:///"):
            db = tracking_uri.removeprefix("sqlite:///")
            if db and db != ":memory:":  # never MLflow's default ./mlruns of whatever folder we run in
                artifact_root = Path(db).parent / "artifacts"
        self.artifact_root = artifact_root
        self._client_obj: Any = None
        self._experiment: str | None = None

    @classmethod
    def local(cls, home: Path) -> Registry:
        """The registry under the earnest home: ``<home>/mlflow/mlflow.db`` and ``<home>/mlflow/artifacts``."""
        root = Path(home).expanduser().resolve() / "mlflow"
        (root / "artifacts").mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{root / 'mlflow.db'}", artifact_root=root / "artifacts")

    @classmethod
    def open(cls, uri: str | None, *, home: Path) -> Registry:
        """The registry at ``uri``, or :meth:`local` under ``home`` when ``uri`` is None or empty."""
        return cls(uri) if uri else cls.local(home)

    # ------------------------------------------------------------------ plumbing

    @property
    def _client(self) -> Any:
        if self._client_obj is None:
            mlflow = _mlflow()
            self._client_obj = mlflow.MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client_obj

    def _experiment_id(self) -> str:
        if self._experiment is None:
            found = self._client.get_experiment_by_name(_EXPERIMENT)
            if found is not None:
                self._experiment = str(found.experiment_id)
            else:
                location = self.artifact_root.resolve().as_uri() if self.artifact_root else None
                self._experiment = str(
                    self._client.create_experiment(_EXPERIMENT, artifact_location=location)
                )
        return self._experiment

    def _names(self) -> list[str]:
        return sorted(m.name for m in _paged(self._client.search_registered_models))

    def _registered(self, name: str) -> Any:
        _check_name(name)
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_registered_model(name)
        except MlflowException as exc:
            names = self._names()
            close = difflib.get_close_matches(name, names, n=3)
            hint = (
                f"did you mean {', '.join(close)}?" if close else f"registered: {', '.join(names) or 'none'}"
            )
            raise NotFoundError(
                f"no registered model {name!r}", remedy=hint, field="name", file=_WHERE
            ) from exc

    def _versions(self, name: str) -> list[Any]:
        found = _paged(self._client.search_model_versions, filter_string=f"name='{name}'")
        return sorted(found, key=lambda mv: int(mv.version))

    def _resolve(self, name: str, version: int | None, alias: str | None) -> tuple[Any, dict[str, int]]:
        """The model version asked for (latest when neither version nor alias) and the model's aliases."""
        if version is not None and alias is not None:
            raise ConfigError("pass a version or an alias, not both", field="version", file=_WHERE)
        model = self._registered(name)
        aliases = {str(k): int(v) for k, v in dict(model.aliases or {}).items()}
        versions = self._versions(name)
        if alias is not None:
            if alias not in aliases:
                known = ", ".join(f"{a} -> v{v}" for a, v in sorted(aliases.items())) or "none"
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}",
                    remedy=f"aliases: {known}" + ("; promote a version first" if alias == PRODUCTION else ""),
                    field="alias",
                    file=_WHERE,
                )
            version = aliases[alias]
        if not versions:
            raise NotFoundError(f"model {name!r} has no versions", remedy="register one", file=_WHERE)
        if version is None:
            return versions[-1], aliases
        for mv in versions:
            if int(mv.version) == version:
                return mv, aliases
        raise NotFoundError(
            f"model {name!r} has no version {version}",
            remedy=f"versions: {', '.join(str(mv.version) for mv in versions)}",
            field="version",
            file=_WHERE,
        )

    def _download(self, run_id: str, path: str, dst: Path) -> Path:
        return Path(self._client.download_artifacts(run_id, path, str(dst)))

    # ------------------------------------------------------------------ writing

    def register(
        self,
        name: str,
        estimator: Any,
        *,
        features: Sequence[str],
        lineage: Lineage,
        metrics: Mapping[str, float],
        oos: pl.DataFrame | None,
        card: ModelCard,
        gate: GateResult | None,
        example: pl.DataFrame | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> RegisteredModel:
        """Log ``estimator`` (fitted on ``features``, in that order) as a new version of ``name``.

        ``features`` must be the lineage's features in the same order. ``example`` (optional) gives
        a few feature rows for the input example; by default one row of zeros. ``config`` (optional,
        JSON-ready) is the training configuration, kept as ``train_config.json`` so that scoring can
        rebuild the model's inputs (:meth:`config`). Returns the version.
        """
        _check_name(name)
        if list(features) != lineage.feature_names:
            raise DataError(
                "features differ from the lineage's features (names or order)",
                remedy="pass lineage.features in the column order the estimator was fitted on",
                field="features",
                file=_WHERE,
            )
        trusted = _trusted_types(estimator)
        client = self._client
        run = client.create_run(self._experiment_id(), run_name=name, tags=_lineage_tags(lineage))
        run_id = run.info.run_id
        try:
            with tempfile.TemporaryDirectory(prefix="earnest-registry-") as tmp:
                self._log_files(run_id, Path(tmp), estimator, lineage, trusted, card, oos, gate, example)
                if config is not None:
                    path = Path(tmp) / "train_config.json"
                    path.write_text(json.dumps(config, indent=2, default=str), encoding="utf-8")
                    client.log_artifact(run_id, str(path))
            self._log_values(run_id, estimator, metrics)
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")
        return self._new_version(name, run_id, f"{run.info.artifact_uri}/model", card, gate)

    def _log_files(
        self,
        run_id: str,
        tmp: Path,
        estimator: Any,
        lineage: Lineage,
        trusted: list[str],
        card: ModelCard,
        oos: pl.DataFrame | None,
        gate: GateResult | None,
        example: pl.DataFrame | None,
    ) -> None:
        mlflow = _mlflow()
        from mlflow.models import infer_signature

        names = lineage.feature_names
        rows = example.select(names) if example is not None else pl.DataFrame({f: [0.0] for f in names})
        frame = rows.head(5).cast(dict.fromkeys(names, pl.Float64)).to_pandas()
        output = np.asarray(score(estimator, frame.to_numpy()), dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow.sklearn.save_model(
                estimator,
                str(tmp / "model"),
                serialization_format="skops",
                skops_trusted_types=trusted,
                signature=infer_signature(frame, output),
                input_example=frame,
                pip_requirements=[],
            )
        meta = tmp / "meta"
        meta.mkdir()
        (meta / "lineage.json").write_text(json.dumps(lineage.to_dict(), indent=2), encoding="utf-8")
        (meta / "MODEL_CARD.md").write_text(card.to_markdown(), encoding="utf-8")
        if gate is not None:
            (meta / "gate.json").write_text(gate.to_json(), encoding="utf-8")
        if oos is not None:
            oos.write_parquet(meta / "oos.parquet")
        self._client.log_artifacts(run_id, str(tmp / "model"), "model")
        self._client.log_artifacts(run_id, str(meta))

    def _log_values(self, run_id: str, estimator: Any, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric, Param

        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        values = [Metric(k, float(v), now, 0) for k, v in metrics.items() if math.isfinite(float(v))]
        params = [Param(k, v) for k, v in _simple_params(estimator).items()]
        for start in range(0, max(len(params), len(values)), 100):
            self._client.log_batch(
                run_id, metrics=values[start : start + 100], params=params[start : start + 100]
            )

    def _new_version(
        self, name: str, run_id: str, source: str, card: ModelCard, gate: GateResult | None
    ) -> RegisteredModel:
        from mlflow.exceptions import MlflowException

        try:
            self._client.get_registered_model(name)
        except MlflowException:
            self._client.create_registered_model(name, description=card.intended_use[:1000])
        tags = {f"{_TAG}features": json.dumps(card.lineage.feature_names)[:5000]}
        if gate is not None:
            tags |= _gate_tags(gate)
        mv = self._client.create_model_version(name, source=source, run_id=run_id, tags=tags)
        return RegisteredModel(name=name, version=int(mv.version), run_id=run_id, source=source)

    def promote(self, name: str, version: int, *, gate: GateResult, by: str | None = None) -> ModelInfo:
        """Point the ``production`` alias at ``version`` of ``name``, only if ``gate`` passed.

        Records who (``by``, default the OS user) and when, and the gate's figures, as version tags.
        Raises :class:`PromotionRefusedError` naming the failed criteria when the gate did not pass.
        """
        mv, aliases = self._resolve(name, version, None)
        if not gate.passed:
            current = aliases.get(PRODUCTION)
            stays = f"production stays on version {current}" if current else "no version is in production"
            raise PromotionRefusedError(
                f"model {name!r} version {version} not promoted: the gate failed on "
                f"{', '.join(gate.failed()) or 'unknown criteria'}: {'; '.join(gate.reasons)}",
                remedy=f"{stays}; improve the model against the baseline or score more out-of-sample dates, then re-run the gate",
                field="gate",
                file=_WHERE,
                details={"failed": list(gate.failed()), "gate": gate.to_dict()},
            )
        tags = _gate_tags(gate) | {
            f"{_TAG}promoted_by": by or _user(),
            f"{_TAG}promoted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if aliases.get(PRODUCTION) is not None:
            tags[f"{_TAG}replaced_version"] = str(aliases[PRODUCTION])
        for key, value in tags.items():
            self._client.set_model_version_tag(name, str(mv.version), key, value)
        self._client.set_registered_model_alias(name, PRODUCTION, str(mv.version))
        return self.show(name, version=version)

    # ------------------------------------------------------------------ reading

    def list_models(self) -> pl.DataFrame:
        """One row per model version: ``name``, ``version``, ``aliases`` (comma-separated),
        ``created`` (UTC), ``run_id``, ``gate_passed`` (null when no gate was recorded) and the
        run's metrics, one column each (null where a version lacks one). Sorted by name, version."""
        rows: list[dict[str, Any]] = []
        for model in _paged(self._client.search_registered_models):
            by_version: dict[int, list[str]] = {}
            for alias, v in dict(model.aliases or {}).items():
                by_version.setdefault(int(v), []).append(str(alias))
            for mv in self._versions(model.name):
                passed = mv.tags.get(f"{_TAG}gate.passed")
                rows.append(
                    {
                        "name": model.name,
                        "version": int(mv.version),
                        "aliases": ", ".join(sorted(by_version.get(int(mv.version), []))),
                        "created": _ms_to_datetime(mv.creation_timestamp),
                        "run_id": mv.run_id,
                        "gate_passed": None if passed is None else passed == "true",
                        **dict(sorted(self._client.get_run(mv.run_id).data.metrics.items())),
                    }
                )
        schema: dict[str, Any] = {
            "name": pl.String,
            "version": pl.Int64,
            "aliases": pl.String,
            "created": pl.Datetime("us", "UTC"),
            "run_id": pl.String,
            "gate_passed": pl.Boolean,
        }
        if not rows:
            return pl.DataFrame(schema=schema)
        frame = pl.from_dicts(rows, infer_schema_length=None)
        return frame.with_columns(pl.col(k).cast(v) for k, v in schema.items()).sort("name", "version")

    def show(self, name: str, version: int | None = None, alias: str | None = None) -> ModelInfo:
        """Lineage, metrics, card and gate of one version (latest when neither version nor alias)."""
        mv, aliases = self._resolve(name, version, alias)
        run = self._client.get_run(mv.run_id)
        with tempfile.TemporaryDirectory(prefix="earnest-registry-") as tmp:
            lineage = self._lineage(mv.run_id, Path(tmp))
            card = self._download(mv.run_id, "MODEL_CARD.md", Path(tmp)).read_text(encoding="utf-8")
        tags = {str(k): str(v) for k, v in run.data.tags.items() if str(k).startswith(_TAG)}
        tags |= {str(k): str(v) for k, v in mv.tags.items()}
        gate_json = tags.get(f"{_TAG}gate.json")
        return ModelInfo(
            name=name,
            version=int(mv.version),
            aliases=tuple(sorted(a for a, v in aliases.items() if v == int(mv.version))),
            created=_ms_to_datetime(mv.creation_timestamp),
            run_id=mv.run_id,
            lineage=lineage,
            metrics=dict(run.data.metrics),
            params=dict(run.data.params),
            card=card,
            gate=GateResult.from_dict(json.loads(gate_json)) if gate_json else None,
            promoted_by=tags.get(f"{_TAG}promoted_by"),
            promoted_at=tags.get(f"{_TAG}promoted_at"),
            tags=tags,
        )

    def _lineage(self, run_id: str, tmp: Path) -> Lineage:
        path = self._download(run_id, "lineage.json", tmp)
        return Lineage.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def oos(self, name: str, version: int | None = None, alias: str | None = None) -> pl.DataFrame | None:
        """The out-of-sample predictions registered with a version, or None when none were."""
        mv, _ = self._resolve(name, version, alias)
        paths = {a.path for a in self._client.list_artifacts(mv.run_id)}
        if "oos.parquet" not in paths:
            return None
        with tempfile.TemporaryDirectory(prefix="earnest-registry-") as tmp:
            return pl.read_parquet(self._download(mv.run_id, "oos.parquet", Path(tmp)))

    def config(
        self, name: str, version: int | None = None, alias: str | None = None
    ) -> dict[str, Any] | None:
        """The training configuration registered with a version, or None when none was."""
        mv, _ = self._resolve(name, version, alias)
        paths = {a.path for a in self._client.list_artifacts(mv.run_id)}
        if "train_config.json" not in paths:
            return None
        with tempfile.TemporaryDirectory(prefix="earnest-registry-") as tmp:
            data: dict[str, Any] = json.loads(
                self._download(mv.run_id, "train_config.json", Path(tmp)).read_text(encoding="utf-8")
            )
            return data

    def load(self, name: str, version: int | None = None, alias: str | None = None) -> LoadedModel:
        """The estimator of one version (latest when neither version nor alias), ready to score."""
        import skops.io as sio

        mv, _ = self._resolve(name, version, alias)
        with tempfile.TemporaryDirectory(prefix="earnest-registry-") as tmp:
            lineage = self._lineage(mv.run_id, Path(tmp))
            model_dir = self._download(mv.run_id, "model", Path(tmp))
            estimator = sio.load(model_dir / "model.skops", trusted=list(TRUSTED_TYPES))
        return LoadedModel(
            name=name,
            version=int(mv.version),
            features=tuple(lineage.feature_names),
            lineage=lineage,
            estimator=estimator,
            run_id=mv.run_id,
        )

    def production_version(self, name: str) -> int | None:
        """The version number carrying the ``production`` alias, or None: one registry lookup, no
        model loaded (what a service polls to notice a promotion)."""
        aliases = dict(self._registered(name).aliases or {})
        return int(aliases[PRODUCTION]) if PRODUCTION in aliases else None

    def production(self, name: str) -> LoadedModel | None:
        """The version of ``name`` carrying the ``production`` alias, or None when none does."""
        version = self.production_version(name)
        return None if version is None else self.load(name, version=version)


def _gate_tags(gate: GateResult) -> dict[str, str]:
    return {
        f"{_TAG}gate.passed": "true" if gate.passed else "false",
        f"{_TAG}gate.p_adjusted": str(gate.p_adjusted),
        f"{_TAG}gate.effect": str(gate.effect),
        f"{_TAG}gate.n_dates": str(gate.n_dates),
        f"{_TAG}gate.json": gate.to_json(),
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
