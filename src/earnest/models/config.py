"""The training config: what ``earnest train CONFIG.toml`` fits, how it validates and searches.

A train config is a TOML file (format: ``docs/train.md``; JSON schema: ``python -m
earnest.models.config``). It names a hypothesis (a file path relative to the config, or an inline
``[hypothesis]`` table in the lab's format) whose selected events are the samples, and then:

- ``[dataset]``: the registered feature names, the label (``win``: net forward return > 0 after the
  lab's costs; ``fwd_return``: that net return; ``abnormal``: the net abnormal return against the
  hypothesis's benchmark) and its horizon in sessions;
- ``[model]``: the estimator kind (``logistic`` | ``lightgbm`` | ``xgboost``), task, parameters, seed;
- ``[validation]``: the splitter (walk-forward expanding or rolling, purged k-fold, combinatorial
  purged CV), folds, embargo in sessions, minimum training rows, the strategy's top fraction;
- ``[search]``: Optuna trials (0 = no search), the metric, a timeout and the search space
  (per-kind defaults, :data:`DEFAULT_SPACES`, overridable parameter by parameter);
- ``[register]``: the name the model is registered under.

:func:`load_train_config` parses the file into a frozen :class:`TrainConfig`; any problem raises
:class:`TrainConfigError` naming the file, the field path (``model.kind``, ``dataset.features[1]``)
and the line of the file it is on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from earnest.core.errors import ConfigError
from earnest.core.hashing import sha256_json
from earnest.core.tomlconfig import line_of, parse_toml, read_config_text, validate
from earnest.lab.spec import MAX_HORIZON_SESSIONS, Hypothesis, resolve_hypothesis

__all__ = [
    "CLASS_LABELS",
    "DEFAULT_SPACES",
    "LABELS",
    "METRICS",
    "Dataset",
    "Model",
    "ParamRange",
    "Register",
    "Search",
    "TrainConfig",
    "TrainConfigError",
    "Validation",
    "load_train_config",
    "parse_train_config",
    "schema_text",
    "train_config_from_dict",
    "train_config_json_schema",
]

Label = Literal["win", "upper_circuit", "triple_barrier", "fwd_return", "abnormal"]
LABELS: tuple[str, ...] = ("win", "upper_circuit", "triple_barrier", "fwd_return", "abnormal")
CLASS_LABELS: frozenset[str] = frozenset({"win", "upper_circuit", "triple_barrier"})
"""Labels that are classes (0/1): the rest are returns (regression)."""

METRICS: dict[str, Literal["maximize", "minimize"]] = {
    "roc_auc": "maximize",
    "pr_auc": "maximize",
    "log_loss": "minimize",
    "brier": "minimize",
    "rank_ic": "maximize",
    "sharpe": "maximize",
}
"""Search metrics and the direction Optuna optimises them in. ``roc_auc``, ``pr_auc``, ``log_loss``
and ``brier`` need a classification task; ``rank_ic`` (mean Spearman IC per entry date) and ``sharpe``
(per-period Sharpe ratio of the top-scored events' net returns) work for both."""

_CLASSIFICATION_ONLY = frozenset({"roc_auc", "pr_auc", "log_loss", "brier"})


class TrainConfigError(ConfigError):
    """A train config file cannot be read or does not describe a valid training run."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParamRange(_Section):
    """One searched parameter: a numeric range (``low``..``high``, ``log`` scale, ``type`` int or
    float) or a list of ``choices``."""

    type: Literal["float", "int", "categorical"] = Field(
        default="float", description="'float', 'int' or 'categorical' (then give choices)"
    )
    low: float | None = Field(default=None, description="smallest value (numeric types)")
    high: float | None = Field(default=None, description="largest value (numeric types)")
    log: bool = Field(default=False, description="sample on a log scale (low must be > 0)")
    choices: tuple[float | int | str | bool, ...] | None = Field(
        default=None, description="the values to choose from (categorical)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ParamRange:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty choices list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs low and high")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0, got {self.low}")
        return self


def _r(kind: Literal["float", "int"], low: float, high: float, *, log: bool = False) -> ParamRange:
    return ParamRange(type=kind, low=low, high=high, log=log)


DEFAULT_SPACES: dict[str, dict[str, ParamRange]] = {
    "logistic": {"C": _r("float", 1e-3, 1e2, log=True)},
    "ridge": {"alpha": _r("float", 1e-3, 1e3, log=True)},
    "lightgbm": {
        "n_estimators": _r("int", 50, 400),
        "learning_rate": _r("float", 0.01, 0.2, log=True),
        "num_leaves": _r("int", 4, 63),
        "min_child_samples": _r("int", 5, 100),
        "colsample_bytree": _r("float", 0.5, 1.0),
        "reg_lambda": _r("float", 1e-3, 10.0, log=True),
    },
    "xgboost": {
        "n_estimators": _r("int", 50, 400),
        "learning_rate": _r("float", 0.01, 0.2, log=True),
        "max_depth": _r("int", 2, 8),
        "min_child_weight": _r("float", 0.5, 20.0, log=True),
        "subsample": _r("float", 0.5, 1.0),
        "colsample_bytree": _r("float", 0.5, 1.0),
    },
}
"""The search space of each estimator kind when ``[search.space]`` does not replace a parameter
(``ridge``: kind ``logistic`` on a regression task, whose model is a ridge regression)."""


class Dataset(_Section):
    """The samples' columns: features known at each event's knowledge time, the label and horizon."""

    features: tuple[str, ...] = Field(
        min_length=1,
        description="registered feature output names (earnest features list) or event fields, e.g. "
        "['sue', 'rsi_14', 'ret_20d']",
    )
    label: Label = Field(
        default="win",
        description="'win': 1 when the net forward return over the horizon is positive (after the "
        "lab's costs); 'upper_circuit': 1 when the stock closes at its upper price band within the "
        "horizon; 'triple_barrier': 1 when the upper barrier (one daily sigma known at the event) is "
        "touched before the lower one and the horizon (AFML ch. 3); 'fwd_return': the net return; "
        "'abnormal': the net abnormal return against the hypothesis's benchmark",
    )
    horizon: int = Field(
        default=5, ge=1, le=MAX_HORIZON_SESSIONS, description="holding period in sessions from the entry"
    )

    @field_validator("features", mode="after")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(v.strip() for v in value)
        if any(not n for n in names):
            raise ValueError("a feature name is blank")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features are repeated: {dupes}")
        return names


class Model(_Section):
    """The estimator: its kind, task, fixed parameters and seed."""

    kind: Literal["logistic", "lightgbm", "xgboost"] = Field(
        default="lightgbm", description="'logistic' (the baseline), 'lightgbm' or 'xgboost'"
    )
    task: Literal["classification", "regression"] | None = Field(
        default=None,
        description="default: classification for label 'win', regression for the returns",
    )
    params: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="fixed parameters, overriding the kind's defaults"
    )
    seed: int = Field(default=0, ge=0, description="seeds the estimator and the Optuna sampler")


class Validation(_Section):
    """How out-of-sample scores are made: splitter, folds, embargo and the minimum training size."""

    splitter: Literal["walk_forward", "purged_kfold", "cpcv"] = Field(
        default="walk_forward",
        description="'walk_forward' (train only on earlier events), 'purged_kfold' or 'cpcv' "
        "(combinatorial purged CV); every splitter purges training labels overlapping a test span",
    )
    window: Literal["expanding", "rolling"] = Field(
        default="expanding",
        description="walk-forward training window: every earlier row (expanding) or the latest rows, as many as the first fold trains on (rolling)",
    )
    n_splits: int = Field(
        default=5, ge=1, le=50, description="test blocks (walk-forward, k-fold) or groups (cpcv)"
    )
    n_test_groups: int = Field(default=2, ge=1, le=10, description="cpcv: groups tested in each split")
    embargo: int = Field(
        default=0,
        ge=0,
        le=MAX_HORIZON_SESSIONS,
        description="sessions added to every label span before purging: a training event whose "
        "label ends within this many sessions of a test block is left out",
    )
    min_train_size: int = Field(default=100, ge=1, description="fewest training rows a fold may have")
    top_fraction: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="the out-of-sample strategy buys this share (rounded up) of each entry date's "
        "events with the highest scores; its per-date mean net return gives the Sharpe ratio",
    )

    @model_validator(mode="after")
    def _splits(self) -> Validation:
        if self.splitter != "walk_forward" and self.n_splits < 2:
            raise ValueError(f"{self.splitter} needs n_splits >= 2, got {self.n_splits}")
        if self.splitter == "cpcv" and not self.n_test_groups < self.n_splits:
            raise ValueError(
                f"cpcv needs n_test_groups ({self.n_test_groups}) below n_splits ({self.n_splits})"
            )
        return self


class Search(_Section):
    """The hyperparameter search: Optuna's TPE sampler, every trial recorded in the trial ledger."""

    n_trials: int = Field(default=0, ge=0, le=10_000, description="trials to run; 0 = no search")
    metric: str | None = Field(
        default=None,
        description=f"what to optimise: {', '.join(METRICS)}; default roc_auc (classification) or "
        "rank_ic (regression)",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="stop starting new trials after this many seconds"
    )
    space: dict[str, ParamRange] = Field(
        default_factory=dict,
        description="parameter ranges replacing the kind's defaults, e.g. "
        "learning_rate = {type = 'float', low = 0.01, high = 0.1, log = true}",
    )

    @field_validator("metric", mode="after")
    @classmethod
    def _metric(cls, value: str | None) -> str | None:
        if value is not None and value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; use one of {', '.join(METRICS)}")
        return value


class Register(_Section):
    """Where the fitted model goes in the registry."""

    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="registered model name (letters, digits, '_', '-', '.'); default: the config's name, "
        "lower-cased with other characters as '-'",
    )


class TrainConfig(_Section):
    """A training run: the hypothesis's events, the dataset, model, validation, search and register."""

    name: str = Field(min_length=1, description="a short name for the run, e.g. 'surprise drift model'")
    description: str = Field(default="", description="what the model is for, in words")
    hypothesis: Hypothesis = Field(
        description="the hypothesis whose selected events are the samples: a path to its TOML file "
        "(relative to this file) or an inline [hypothesis] table"
    )
    dataset: Dataset
    model: Model = Field(default_factory=Model)
    validation: Validation = Field(default_factory=Validation)
    search: Search = Field(default_factory=Search)
    register_as: Register = Field(default_factory=Register, alias="register")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def problem(self) -> tuple[str, tuple[str, ...]] | None:
        """A conflict between sections as (message, field path), or None."""
        if self.task == "classification" and self.dataset.label not in CLASS_LABELS:
            return f"label {self.dataset.label!r} is a return: use task = 'regression'", ("model", "task")
        if self.task == "regression" and self.dataset.label in CLASS_LABELS:
            return f"label {self.dataset.label!r} is a class: use task = 'classification'", ("model", "task")
        if self.task == "regression" and self.search.metric in _CLASSIFICATION_ONLY:
            return (
                f"metric {self.search.metric!r} needs a classification task (label 'win')",
                ("search", "metric"),
            )
        return None

    @property
    def task(self) -> str:
        """``model.task``, or the label's natural task."""
        if self.model.task is not None:
            return self.model.task
        return "classification" if self.dataset.label in CLASS_LABELS else "regression"

    @property
    def metric(self) -> str:
        """``search.metric``, or the task's default."""
        if self.search.metric is not None:
            return self.search.metric
        return "roc_auc" if self.task == "classification" else "rank_ic"

    @property
    def register_name(self) -> str:
        """``register.name``, defaulting to the run's name."""
        if self.register_as.name:
            return self.register_as.name
        return re.sub(r"[^a-z0-9_.\-]+", "-", self.name.lower()).strip("-.") or "model"

    def space(self) -> dict[str, ParamRange]:
        """The search space: the kind's defaults with ``[search.space]`` entries replacing or adding."""
        kind = "ridge" if self.model.kind == "logistic" and self.task == "regression" else self.model.kind
        return {**DEFAULT_SPACES[kind], **self.search.space}

    def canonical(self) -> dict[str, Any]:
        """What determines the trained model (JSON-ready): everything but names and descriptions."""
        data = self.model_dump(mode="json", exclude={"name": True, "description": True, "register_as": True})
        data["hypothesis"].pop("name", None)
        data["hypothesis"].pop("description", None)
        return data

    def config_hash(self) -> str:
        """sha256 of :meth:`canonical` (the receipt's config hash)."""
        return sha256_json(self.canonical())


# --------------------------------------------------------------------------------------------- #
# loading


def train_config_from_dict(
    data: dict[str, Any], *, source: str = "<train config>", text: str = "", base: Path | None = None
) -> TrainConfig:
    """Validate parsed TOML into a :class:`TrainConfig`. ``source`` names it in errors, ``text`` (the
    TOML) gives their line, ``base`` is the folder a ``hypothesis = "file.toml"`` path is relative to."""
    data = resolve_hypothesis(data, base=base, source=source, what="train config")
    config = validate(
        TrainConfig, data, source=source, error=TrainConfigError, doc="docs/train.md", text=text
    )
    problem = config.problem()
    if problem is not None:
        message, path = problem
        raise TrainConfigError(
            message,
            remedy="see docs/train.md: [model] task and [search] metric",
            file=source,
            row=line_of(text, path) if text else None,
            field=".".join(path),
        )
    return config


def parse_train_config(text: str, *, source: str = "<train config>", base: Path | None = None) -> TrainConfig:
    """Parse train-config TOML text; ``source`` names it in errors; ``base`` resolves a hypothesis path."""
    data = parse_toml(text, source=source, error=TrainConfigError, example="examples/train_demo.toml")
    return train_config_from_dict(data, source=source, text=text, base=base)


def load_train_config(path: str | Path) -> TrainConfig:
    """Read and validate the train config TOML file at ``path``."""
    file = Path(path)
    text = read_config_text(
        file, what="train config", error=TrainConfigError, example="examples/train_demo.toml"
    )
    return parse_train_config(text, source=str(file), base=file.parent)


def train_config_json_schema() -> dict[str, Any]:
    """The JSON schema of a train config (validation mode; ``hypothesis`` may also be a path)."""
    schema = TrainConfig.model_json_schema(mode="validation")
    props = schema["properties"]
    props["hypothesis"] = {
        "anyOf": [{"type": "string", "description": "path relative to the config"}, props["hypothesis"]],
        "description": TrainConfig.model_fields["hypothesis"].description,
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """:func:`train_config_json_schema` as text (2-space indent, final newline)."""
    return json.dumps(train_config_json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # print the schema: python -m earnest.models.config > docs/train.schema.json
    print(schema_text(), end="")
