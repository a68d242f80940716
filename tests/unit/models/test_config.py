"""The train config: defaults, the hypothesis by path or inline, and errors that name the file, the
field path and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from earnest.core.errors import ConfigError, NotFoundError
from earnest.core.tomlconfig import line_of
from earnest.models.config import (
    DEFAULT_SPACES,
    ParamRange,
    TrainConfigError,
    load_train_config,
    parse_train_config,
    schema_text,
    train_config_json_schema,
)

REPO = Path(__file__).resolve().parents[3]

HYPOTHESIS = """name = "surprise"
question = "q-surprise"
[period]
start = 2022-07-01
end = 2024-06-30
[event]
selector = "sue > 1"
"""

CONFIG = """name = "m"
[hypothesis]
name = "surprise"
question = "q-surprise"
[hypothesis.period]
start = 2022-07-01
end = 2024-06-30
[hypothesis.event]
selector = "sue > 1"
[dataset]
features = ["sue", "rsi_14"]
horizon = 5
[model]
kind = "lightgbm"
params = { n_estimators = 50 }
[search]
n_trials = 3
"""


def error(text: str) -> TrainConfigError:
    with pytest.raises(TrainConfigError) as info:
        parse_train_config(text, source="cfg.toml")
    return info.value


def test_defaults_follow_the_label() -> None:
    c = parse_train_config(CONFIG)
    assert (c.task, c.metric, c.dataset.label, c.register_name) == ("classification", "roc_auc", "win", "m")
    assert c.hypothesis.event.selector == "sue > 1"
    assert c.validation.splitter == "walk_forward"
    assert c.model.params == {"n_estimators": 50}
    regression = parse_train_config(CONFIG.replace("horizon = 5", 'horizon = 5\nlabel = "fwd_return"'))
    assert (regression.task, regression.metric) == ("regression", "rank_ic")


def test_the_hypothesis_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "hyp").mkdir()
    (tmp_path / "hyp" / "h.toml").write_text(HYPOTHESIS)
    body = CONFIG.split("[dataset]")[1]
    (tmp_path / "train.toml").write_text('name = "m"\nhypothesis = "hyp/h.toml"\n[dataset]' + body)
    c = load_train_config(tmp_path / "train.toml")
    assert (c.hypothesis.name, c.hypothesis.question) == ("surprise", "q-surprise")
    (tmp_path / "gone.toml").write_text('name = "m"\nhypothesis = "nope.toml"\n[dataset]' + body)
    with pytest.raises(NotFoundError) as info:
        load_train_config(tmp_path / "gone.toml")
    assert info.value.field == "hypothesis"
    assert "nope.toml" in info.value.message


def test_an_unknown_key_names_field_line_and_the_close_name() -> None:
    e = error(CONFIG.replace("horizon = 5", "horizn = 5"))
    assert (e.file, e.field, e.row) == ("cfg.toml", "dataset.horizn", 12)
    assert "did you mean 'horizon'" in e.remedy
    assert e.exit_code == 2


def test_a_bad_value_names_field_and_line() -> None:
    e = error(CONFIG.replace('kind = "lightgbm"', 'kind = "lgbm"'))
    assert (e.field, e.row) == ("model.kind", 14)
    assert "'lgbm'" in e.message
    blank = error(CONFIG.replace('["sue", "rsi_14"]', '["sue", " "]'))
    assert (blank.field, blank.row) == ("dataset.features", 11)
    repeated = error(CONFIG.replace('["sue", "rsi_14"]', '["sue", "sue"]'))
    assert "repeated" in repeated.message


def test_errors_inside_the_inline_hypothesis_name_its_path() -> None:
    e = error(CONFIG.replace('selector = "sue > 1"', 'selectr = "sue > 1"'))
    assert (e.field, e.row) == ("hypothesis.event.selectr", 9)
    assert "selector" in e.remedy
    missing = error(CONFIG.replace("[hypothesis.period]\nstart = 2022-07-01\nend = 2024-06-30\n", ""))
    assert missing.field == "hypothesis.period"
    assert missing.message == "required table is missing"


def test_task_label_and_metric_must_agree() -> None:
    e = error(CONFIG.replace('kind = "lightgbm"', 'kind = "lightgbm"\ntask = "classification"').replace(
        "horizon = 5", 'horizon = 5\nlabel = "fwd_return"'
    ))  # fmt: skip
    assert (e.field, e.row) == ("model.task", 16)
    m = error(CONFIG.replace("horizon = 5", 'horizon = 5\nlabel = "abnormal"').replace(
        "n_trials = 3", 'n_trials = 3\nmetric = "brier"'
    ))  # fmt: skip
    assert (m.field, m.row) == ("search.metric", 19)


def test_search_space_defaults_and_overrides() -> None:
    c = parse_train_config(
        CONFIG + "[search.space]\nlearning_rate = { low = 0.02, high = 0.05, log = true }\n"
        'boosting = { type = "categorical", choices = ["gbdt", "dart"] }\n'
    )
    space = c.space()
    assert set(space) == set(DEFAULT_SPACES["lightgbm"]) | {"boosting"}
    assert (space["learning_rate"].low, space["learning_rate"].high) == (0.02, 0.05)
    assert space["num_leaves"] == DEFAULT_SPACES["lightgbm"]["num_leaves"]
    with pytest.raises(ValueError, match="low > 0"):
        ParamRange(low=0.0, high=1.0, log=True)
    with pytest.raises(ValueError, match="choices"):
        ParamRange(type="categorical")
    e = error(CONFIG + "[search.space]\nnum_leaves = { low = 9, high = 3 }\n")
    assert e.field == "search.space.num_leaves"
    assert e.row == 19


def test_the_config_hash_ignores_names_and_follows_the_model() -> None:
    base = parse_train_config(CONFIG).config_hash()
    renamed = (
        CONFIG.replace('name = "m"', 'name = "other"\ndescription = "words"') + '[register]\nname = "x"\n'
    )
    assert parse_train_config(renamed).config_hash() == base
    assert parse_train_config(CONFIG.replace("n_estimators = 50", "n_estimators = 51")).config_hash() != base


def test_toml_syntax_errors_give_the_line() -> None:
    e = error(CONFIG.replace("horizon = 5", "horizon = = 5"))
    assert e.row == 12
    assert isinstance(e, ConfigError)


def test_line_of_finds_keys_tables_and_dotted_headers() -> None:
    text = "a = 1\n[x]\nb = 2\n[x.y]\nc = 3\n# [x.z]\n"
    assert line_of(text, ("a",)) == 1
    assert line_of(text, ("x", "b")) == 3
    assert line_of(text, ("x", "y", "c")) == 5
    assert line_of(text, ("x", "y", "missing")) == 4  # the deepest table on the path
    assert line_of(text, ("x", "b", 0)) == 3
    assert line_of(text, ("nothing",)) is None


def test_the_example_and_the_schema() -> None:
    c = load_train_config(REPO / "examples" / "train_demo.toml")
    assert c.hypothesis.question == "demo-surprise-drift"
    assert c.search.n_trials > 0
    schema = train_config_json_schema()
    assert {"type": "string", "description": "path relative to the config"} in schema["properties"][
        "hypothesis"
    ]["anyOf"]
    assert "register" in schema["properties"]


def test_the_committed_json_schema_is_the_model() -> None:
    committed = (REPO / "docs" / "train.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "regenerate: .venv/bin/python -m earnest.models.config > docs/train.schema.json"
    )


def test_the_dask_scheduler_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from earnest.config import load_settings

    monkeypatch.setenv("EARNEST_HOME", str(tmp_path))
    monkeypatch.delenv("EARNEST_CONFIG", raising=False)
    monkeypatch.delenv("EARNEST_DASK_SCHEDULER", raising=False)
    assert load_settings().dask_scheduler is None
    monkeypatch.setenv("EARNEST_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    assert load_settings().dask_scheduler == "tcp://10.0.0.5:8786"
