"""Research commands: features, the hypothesis lab, training and the model registry, backtests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from earnest.cli._common import (
    Fmt,
    app,
    console,
    emit,
    err_console,
    features_app,
    lab_app,
    models_app,
    opened_store,
    progress_bar,
    settings,
)


# ---- features ----------------------------------------------------------------------------------
@features_app.command("list")
def features_list(fmt: Fmt = "table") -> None:
    """Every registered feature: inputs, lookback, outputs, when its values become known."""
    from earnest.workflows.features import features_frame

    emit(features_frame(), fmt, title="features")


@features_app.command("build")
def features_build(
    symbol: Annotated[list[str] | None, typer.Option("--symbol", "-s", help="only these symbols")] = None,
    feature: Annotated[list[str] | None, typer.Option("--feature", help="only these features")] = None,
    adjusted: Annotated[bool, typer.Option(help="compute on corporate-action adjusted bars")] = False,
    rebuild: Annotated[bool, typer.Option(help="recompute everything, not only new sessions")] = False,
) -> None:
    """Compute features on the stored bars and materialise them (incremental: only new sessions)."""
    from earnest.workflows.features import build

    with opened_store() as store, progress_bar("features") as update:
        report = build(
            store,
            features=feature,
            symbols=[x.upper() for x in symbol] if symbol else None,
            adjusted=adjusted,
            rebuild=rebuild,
            progress=update,
        )
    console.print(
        f"features: {report.total_rows:,} values computed, {report.rows_inserted:,} new rows stored"
        + (f", {report.rows_replaced:,} replaced" if report.rows_replaced else "")
        + (f"; skipped {report.skipped}" if report.skipped else "")
    )


# ---- lab ---------------------------------------------------------------------------------------
@lab_app.command("run")
def lab_run(
    hypothesis: Annotated[Path, typer.Argument(help="a hypothesis TOML file (see examples/)")],
    out: Annotated[Path | None, typer.Option(help="folder for report.html and report.json")] = None,
    fmt: Fmt = "table",
) -> None:
    """Evaluate a hypothesis against its baselines: event study, power, verdict; record its trials."""
    from earnest.lab.spec import load_hypothesis
    from earnest.workflows.lab import run_hypothesis
    from earnest.workflows.render import render_study

    h = load_hypothesis(hypothesis)
    target = out or settings().home / "reports" / h.name
    with opened_store() as store, err_console.status("lab") as status:
        run = run_hypothesis(store, h, out_dir=target, progress=lambda stage: status.update(f"lab: {stage}"))
    if fmt == "json":
        from earnest.reports.lab import study_json

        sys.stdout.write(json.dumps(study_json(run.study), default=str, indent=1) + "\n")
        return
    render_study(console, run.study)
    console.print(f"report: {run.html_path}  ({run.n_trials} trial(s) in question {h.question!r})")


@lab_app.command("ledger")
def lab_ledger(
    question: Annotated[str | None, typer.Option(help="only this research question")] = None,
    fmt: Fmt = "table",
) -> None:
    """Every trial recorded, with Benjamini-Hochberg adjusted p-values per research question."""
    from earnest.lab.ledger import adjusted_p, ledger

    with opened_store() as store:
        questions = (
            [question] if question else ledger(store, None).get_column("question").unique().sort().to_list()
        )
        frames = [adjusted_p(store, q) for q in questions]
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    emit(frame, fmt, title="trial ledger")


# ---- train ------------------------------------------------------------------------------------
@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="a train config TOML file (see examples/train_demo.toml)")],
    n_trials: Annotated[
        int | None,
        typer.Option("--n-trials", help="Optuna trials (overrides search.n_trials of the config; 0 = none)"),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler for folds and trials, tcp://host:8786 (default $EARNEST_DASK_SCHEDULER)"
        ),
    ] = None,
    register: Annotated[
        bool, typer.Option(help="register the model (MLflow) with its lineage, card and gate result")
    ] = True,
    fmt: Fmt = "table",
) -> None:
    """Train a model on a hypothesis's events: search, walk-forward out-of-sample table vs baselines,
    then register it (never promoted: see `earnest models promote`)."""
    from earnest.models.config import load_train_config
    from earnest.parallel import DaskExecutor, Executor, InProcessExecutor
    from earnest.workflows.train import render_training, run_training

    if n_trials is not None and n_trials < 0:
        raise typer.BadParameter("must be >= 0", param_hint="--n-trials")
    cfg = load_train_config(config)
    s = settings()
    address = dask or s.dask_scheduler
    executor: Executor = DaskExecutor(address) if address else InProcessExecutor()
    try:
        with opened_store(s) as store:
            with progress_bar("train") as update:
                result = run_training(store, cfg, executor=executor, progress=update, n_trials=n_trials)
            registration = _register(s, store, result) if register else None
    finally:
        if isinstance(executor, DaskExecutor):
            executor.close()
    if fmt != "table":
        emit(result.metrics, fmt, title="out of sample")
        return
    render_training(console, result)
    if registration is not None:
        _print_registration(registration)


def _registry(s: Any) -> Any:
    from earnest.models.registry import Registry

    return Registry.open(s.registry, home=s.home)


def _register(s: Any, store: Any, result: Any) -> Any:
    from earnest.workflows.models import register_training

    return register_training(store, _registry(s), result)


def _print_registration(reg: Any) -> None:
    g = reg.gate
    verdict = "[green]passes[/]" if g.passed else "[yellow]does not pass[/]"
    console.print(
        f"registered [bold]{reg.model.name}[/] version {reg.model.version}; the promotion gate {verdict}: "
        f"rank IC {g.rank_ic:+.3f} vs baseline {g.baseline_rank_ic:+.3f} over {g.n_dates} months, "
        f"p {g.p:.3g}, BH-adjusted over {g.n_trials} trials of {reg.question!r}: {g.p_adjusted:.3g}"
    )
    for reason in g.reasons:
        console.print(f"  - {reason}")
    if g.passed:
        console.print(f"promote it with: earnest models promote {reg.model.name} {reg.model.version}")


# ---- models -----------------------------------------------------------------------------------
@models_app.command("list")
def models_list(fmt: Fmt = "table") -> None:
    """Registered models: every version, its aliases (production), key metrics, gate result."""
    emit(_registry(settings()).list_models(), fmt, title="models")


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="registered model name")],
    version: Annotated[int | None, typer.Argument(help="version (default: latest)")] = None,
    alias: Annotated[str | None, typer.Option(help="or an alias, e.g. production")] = None,
) -> None:
    """A version's lineage, metrics, gate and model card."""
    info = _registry(settings()).show(name, version=version, alias=alias)
    console.print(
        f"[bold]{info.name}[/] version {info.version} {list(info.aliases) or ''} created {info.created:%Y-%m-%d %H:%M}"
    )
    console.print_json(json.dumps(info.lineage.to_dict(), default=str))
    console.print(info.card)


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="registered model name")],
    version: Annotated[int, typer.Argument(help="the version to put in production")],
    alpha: Annotated[float, typer.Option(help="significance level after the ledger's BH adjustment")] = 0.05,
) -> None:
    """Promote a version to production if the statistical gate passes with today's trial ledger."""
    from earnest.workflows.models import promote_model

    s = settings()
    with opened_store(s) as store:
        info, gate = promote_model(store, _registry(s), name, version, alpha=alpha)
    console.print(
        f"[green]promoted[/] {info.name} version {info.version} to production: rank IC {gate.rank_ic:+.3f} vs "
        f"baseline {gate.baseline_rank_ic:+.3f}, BH-adjusted p {gate.p_adjusted:.3g} over {gate.n_trials} trials"
    )


# ---- backtest ---------------------------------------------------------------------------------
@app.command()
def backtest(
    config: Annotated[
        Path, typer.Argument(help="a backtest config TOML file (see examples/backtest_demo.toml)")
    ],
    out: Annotated[
        Path | None, typer.Option(help="report folder (default: HOME/reports/backtests/NAME)")
    ] = None,
    fmt: Fmt = "table",
) -> None:
    """Backtest a hypothesis's (or a model's) events as a portfolio with Indian costs, bands and T+1."""
    from earnest.backtest.spec import load_backtest_spec
    from earnest.workflows.backtest import render_backtest, run_backtest_spec

    spec = load_backtest_spec(config)
    s = settings()
    folder = out or s.home / "reports" / "backtests" / _slug(spec.name)
    registry = _registry(s) if spec.signal.source == "model" else None
    with opened_store(s) as store, progress_bar("backtest") as update:
        steps = iter(range(1, 10))
        outcome = run_backtest_spec(
            store,
            spec,
            registry=registry,
            out_dir=folder,
            progress=lambda what: update(next(steps, 9), 9, what),
        )
    if fmt != "table":
        emit(pl.DataFrame([outcome.run.perf.to_dict()]), fmt, title="backtest")
        return
    render_backtest(console, outcome)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "backtest"
