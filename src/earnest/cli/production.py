"""Production commands: the daily pipeline, the scheduler, the prediction service, API keys, alerts."""

from __future__ import annotations

import datetime as dt
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
    opened_store,
    parse_date,
    progress_bar,
    settings,
)

daily_help = "Run the daily pipeline for one NSE session: fetch -> ingest -> quality -> events -> features -> score -> alerts."
apikey_app = typer.Typer(no_args_is_help=True, help="API keys of the prediction service (stored hashed).")
alerts_app = typer.Typer(
    no_args_is_help=True, help="Alerts: deliver pending ones, re-queue failed ones, status."
)
app.add_typer(apikey_app, name="apikey")
app.add_typer(alerts_app, name="alerts")


def _daily_stages(s: Any) -> tuple[Any, Any, list[Any]]:
    """The scoring and alerting stages the settings configure (and the channels to close)."""
    from earnest.alerts import channels_from_settings, policy_from_settings
    from earnest.models.registry import Registry
    from earnest.workflows.scoring import alert_stage, score_stage

    model = s.daily.model_name or s.service.model_name
    registry = Registry.open(s.registry, home=s.home)
    channels = channels_from_settings(s.alerts)
    score = score_stage(registry=registry, model_name=model)
    alerts = alert_stage(
        model_name=model,
        threshold=s.daily.alert_threshold,
        channels=channels,
        policy=policy_from_settings(s.alerts),
        rate_limit_per_minute=s.alerts.rate_limit_per_minute,
    )
    return score, alerts, channels


def run_day(s: Any, day: dt.date, *, inbox: Path | None = None, force: bool = False) -> bool:
    """Run (or resume) the pipeline for ``day``; True when every stage is done or skipped."""
    from earnest.core.calendar import nse_calendar
    from earnest.workflows.daily import DailyContext, run_daily
    from earnest.workflows.render import table_of

    score, alerts, channels = _daily_stages(s)
    folder = inbox or s.daily.inbox
    try:
        with opened_store(s) as store, progress_bar("daily") as update:
            ctx = DailyContext(
                store=store,
                day=day,
                calendar=nse_calendar(),
                cache_dir=s.cache_dir,
                inbox=[folder] if folder else None,
                products=s.daily.products,
                download=s.download,
                quality=s.quality,
            )
            report = run_daily(ctx, score=score, alerts=alerts, force=force, progress=update)
    finally:
        for channel in channels:
            channel.close()
    if not report.trading_day:
        console.print(f"{day} is not an NSE session: nothing to do")
        return True
    rows = [
        {
            "stage": r["stage"],
            "status": r["status"],
            "this run": "ran" if r["ran"] else "already done",
            "detail": json.dumps(r["detail"], default=str)[:90],
        }
        for r in report.stages
    ]
    console.print(table_of(rows, title=f"daily pipeline, {day}"))
    return report.ok


@app.command(help=daily_help)
def daily(
    date: Annotated[
        str | None, typer.Option("--date", help="the session, YYYY-MM-DD (default: the latest published)")
    ] = None,
    inbox: Annotated[
        Path | None, typer.Option(help="take the day's files from this folder instead of downloading")
    ] = None,
    force: Annotated[bool, typer.Option(help="re-run stages already done (each is idempotent)")] = False,
    status: Annotated[bool, typer.Option(help="only show the stage log of the day")] = False,
) -> None:
    from earnest.workflows.daily import default_day, stage_log

    s = settings()
    day = parse_date(date, "--date") or default_day()
    if status:
        with opened_store(s) as store:
            emit(stage_log(store, day).drop("detail_json"), "table", title=f"stage log {day}")
        return
    if not run_day(s, day, inbox=inbox, force=force):
        raise typer.Exit(6)


@app.command()
def scheduler(
    at: Annotated[
        str | None, typer.Option(help="IST time to run after each session, HH:MM (default daily.run_at)")
    ] = None,
    inbox: Annotated[Path | None, typer.Option(help="take each day's files from this folder")] = None,
) -> None:
    """Run the daily pipeline after every NSE session, in the foreground (retries incomplete days)."""
    from earnest.core.calendar import nse_calendar
    from earnest.workflows.scheduler import run_scheduler

    s = settings()
    when = at or s.daily.run_at
    try:
        hh, mm = (int(x) for x in when.split(":"))
        run_time = dt.time(hh, mm)
    except ValueError:
        raise typer.BadParameter(f"{when!r} is not HH:MM", param_hint="--at") from None
    console.print(
        f"scheduler: the daily pipeline runs at {run_time:%H:%M} IST after every NSE session (Ctrl-C stops)"
    )
    run_scheduler(lambda day: run_day(s, day, inbox=inbox), at=run_time, calendar=nse_calendar())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="listen address (default service.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default service.port)")] = None,
) -> None:
    """Serve the production model over HTTP (FastAPI under uvicorn): /v1/predict, /metrics, ..."""
    from earnest.service.app import serve as run_service

    s = settings()
    svc = s.service.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    run_service(s.model_copy(update={"service": svc}))


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="who the key is for")],
    rate_limit: Annotated[
        float | None, typer.Option(help="requests per second (default service.rate_limit_per_s)")
    ] = None,
) -> None:
    """Create an API key; it is printed once (the store keeps only its hash)."""
    from earnest.service.auth import apikey_create as create

    with opened_store() as store:
        key_id, key = create(store, name=name, rate_limit=rate_limit)
    console.print(f"key id {key_id}; send the key in the X-API-Key header. It is shown only now:")
    sys.stdout.write(key + "\n")


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[str, typer.Argument(help="the key id `apikey create` printed")]) -> None:
    """Revoke an API key (the running service refuses it from its next refresh)."""
    from earnest.service.auth import apikey_revoke as revoke

    with opened_store() as store:
        done = revoke(store, key_id)
    console.print(f"revoked {key_id}" if done else f"{key_id} was already revoked")


@alerts_app.command("send")
def alerts_send() -> None:
    """Deliver every pending alert that is due (retries with backoff; failures stay pending)."""
    from earnest.alerts import channels_from_settings, deliver_pending, policy_from_settings

    s = settings()
    channels = channels_from_settings(s.alerts)
    if not channels:
        err_console.print(
            "no alert channel configured: set EARNEST_ALERTS__TELEGRAM_BOT_TOKEN and _CHAT_ID, or _WEBHOOK_URL"
        )
        raise typer.Exit(2)
    try:
        with opened_store(s) as store:
            report = deliver_pending(
                store,
                channels,
                policy=policy_from_settings(s.alerts),
                rate_limit_per_minute=s.alerts.rate_limit_per_minute,
            )
    finally:
        for channel in channels:
            channel.close()
    console.print(f"sent {len(report.sent)}, deferred {len(report.deferred)}, failed {len(report.failed)}")


@alerts_app.command("retry")
def alerts_retry(channel: Annotated[str | None, typer.Option(help="only this channel")] = None) -> None:
    """Put permanently failed deliveries back in the queue (after fixing the cause)."""
    from earnest.alerts import retry_failed

    with opened_store() as store:
        n = retry_failed(store, channel=channel)
    console.print(f"{n} deliveries queued again")


@alerts_app.command("status")
def alerts_status(fmt: Fmt = "table") -> None:
    """Deliveries per channel and status."""
    from earnest.alerts import delivery_summary

    with opened_store() as store:
        emit(delivery_summary(store), fmt, title="alert deliveries")


@alerts_app.command("report")
def alerts_report_cmd(
    model: Annotated[
        str | None, typer.Option(help="only this model's alerts (default daily.model_name)")
    ] = None,
    measure: Annotated[str, typer.Option(help="raw, or excess (vs NIFTY 50)")] = "raw",
    fmt: Fmt = "table",
) -> None:
    """Live results of sent alerts at 1, 3 and 5 sessions (filled in as bars arrive), next to the
    model's out-of-sample expectation; flags live results outside it."""
    from earnest.alerts.expectation import alerts_report, registry_expectation
    from earnest.alerts.outcomes import fill_outcomes
    from earnest.core.errors import EarnestError
    from earnest.models.registry import Registry

    s = settings()
    name = model or s.daily.model_name or s.service.model_name
    registry = Registry.open(s.registry, home=s.home)

    def expectation() -> Any:
        try:
            return registry_expectation(registry, name, threshold=s.daily.alert_threshold)
        except EarnestError:  # no production version, or no out-of-sample record: no expectation
            return None

    with opened_store(s) as store:
        filled = fill_outcomes(store, fill=s.alerts.entry_fill, index_name=s.alerts.benchmark_index)
        rows = alerts_report(store, expectation=expectation, model_name=name, measure=measure)
    if fmt != "table":
        sys.stdout.write(json.dumps(rows, default=str, indent=1) + "\n")
        return
    console.print(f"{filled} outcome(s) filled from the latest bars")
    shown = [
        {
            k: (f"{v:.4g}" if isinstance(v, float) else v)
            for k, v in r.items()
            if not isinstance(v, dict | list)
        }
        for r in rows
    ]
    emit(pl.DataFrame(shown), "table", title=f"live alerts of {name} ({measure})")
