"""Load test of the prediction service with wrk, from the same machine.

Starts the service (uvicorn, one worker, in a thread of this process) on a simulated market
(:mod:`earnest.service.demo`: a DuckDB store and a really fitted logistic model), warms the feature
cache, then drives it with wrk (a separate process) and prints p50/p95/p99:

1. single predictions (``POST /v1/predict``, 1,000 distinct symbol/as-of pairs in rotation) paced
   at ``--rate`` requests per second (target: p99 <= 20 ms at 200/s);
2. batches of 1,000 rows (``POST /v1/predict/batch``) on one connection, paced at ``--batch-rate``
   per second (target: <= 100 ms);
3. single predictions at ``--rate`` while the model is promoted (hot reload) in the middle of the
   run (target: no failed request).

wrk is closed-loop: each connection waits ``connections / rate`` seconds between its requests
(wrk's ``delay()``), so a slow response delays the next one rather than piling up requests
(latencies under overload are understated; the achieved rate is printed to check the pacing held).
Also prints one cold batch (features computed from the store, nothing cached) timed by the client.

    .venv/bin/python benchmarks/serve.py [--rate 200] [--seconds 20] [--symbols 50]

Needs ``wrk`` (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from earnest.config import ServiceSettings, Settings
from earnest.service.app import create_app
from earnest.service.auth import apikey_create
from earnest.service.demo import demo_symbols, fill_demo_store, fit_demo_model, serve_in_thread
from earnest.service.models import InMemoryModelSource
from earnest.store import open_store

_LUA = """
local bodies = {%(bodies)s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "%(key)s"
request = function()
  i = i + 1
  return wrk.format(nil, "%(path)s", nil, bodies[(i %% #bodies) + 1])
end
%(delay)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%f %%f %%f %%f\\n", summary.requests,
    summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def run_wrk(
    wrk: str,
    url: str,
    *,
    key: str,
    path: str,
    bodies: list[str],
    seconds: int,
    connections: int,
    delay_ms: float | None,
) -> dict[str, float]:
    """Run wrk against ``url + path`` rotating ``bodies``; the figures of its ``done`` hook."""
    delay = f"delay = function() return {delay_ms:.3f} end" if delay_ms is not None else ""
    script = _LUA % {
        "bodies": ",".join(_lua_string(b) for b in bodies),
        "key": key,
        "path": path,
        "delay": delay,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", f.name, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    Path(f.name).unlink()
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    n, dur_us, conn, read, write, status, timeout, p50, p95, p99, top = (float(x) for x in line.split()[1:])
    return {
        "requests": n,
        "rate": n / (dur_us / 1e6),
        "failed": conn + read + write + status + timeout,
        "p50_ms": p50 / 1000,
        "p95_ms": p95 / 1000,
        "p99_ms": p99 / 1000,
        "max_ms": top / 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="single predictions per second")
    parser.add_argument("--seconds", type=int, default=20, help="duration of each wrk run")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch-rate", type=float, default=5.0, help="batches per second (paced)")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed: apt-get install wrk (Debian/Ubuntu)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="earnest-serve-bench-") as tmp:
        store = open_store(f"duckdb:///{Path(tmp) / 'earnest.duckdb'}")
        days = fill_demo_store(store, n_symbols=args.symbols, n_sessions=260)
        v1 = fit_demo_model(store, days[100:200], version="1")
        v2 = fit_demo_model(store, days[100:200], version="2", c=0.05)
        source = InMemoryModelSource(v1)
        _, key = apikey_create(store, name="bench")
        service = ServiceSettings(rate_limit_per_s=1e6, reload_poll_s=0.5)
        app = create_app(Settings(home=Path(tmp), service=service), store=store, model_source=source)
        pairs = [
            (s, d.isoformat()) for s in demo_symbols(args.symbols) for d in days[-(1000 // args.symbols) :]
        ]
        rows = [{"symbol": s, "as_of": d} for s, d in pairs][:1000]
        singles = [json.dumps(r) for r in rows]
        batch = json.dumps({"rows": rows})
        results: list[tuple[str, dict[str, float]]] = []
        with (
            serve_in_thread(app) as url,
            httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as c,
        ):
            t0 = time.perf_counter()
            cold = c.post("/v1/predict/batch", content=batch, headers={"content-type": "application/json"})
            cold_ms = (time.perf_counter() - t0) * 1000
            assert cold.status_code == 200, cold.text[:300]
            # pacing: a connection's cycle is its delay plus the response time, measured in a warm-up run
            cycle_ms = 1000.0 * args.connections / args.rate
            warm = run_wrk(wrk, url, key=key, path="/v1/predict", bodies=singles, seconds=3,
                           connections=args.connections, delay_ms=cycle_ms)  # fmt: skip
            delay = max(0.0, cycle_ms - (1000.0 * args.connections / warm["rate"] - cycle_ms))
            common = {"key": key, "seconds": args.seconds}
            results.append(("single /v1/predict", run_wrk(wrk, url, path="/v1/predict", bodies=singles,
                            connections=args.connections, delay_ms=delay, **common)))  # fmt: skip
            results.append(("batch of 1,000 rows", run_wrk(wrk, url, path="/v1/predict/batch", bodies=[batch],
                            connections=1, delay_ms=1000.0 / args.batch_rate, **common)))  # fmt: skip
            timer = threading.Timer(args.seconds / 2, lambda: source.set(v2))
            timer.start()
            reload = run_wrk(wrk, url, path="/v1/predict", bodies=singles, connections=args.connections,
                             delay_ms=delay, **common)  # fmt: skip
            timer.join()
            results.append(("single during hot reload", reload))
            serving = c.get("/v1/models").json()["serving"]["version"]
        store.close()
    print(f"earnest service, 1 uvicorn worker, {args.symbols} symbols; wrk -t1, {args.seconds} s per run")
    print(f"cold batch of 1,000 rows (nothing cached, client-timed): {cold_ms:.1f} ms")
    header = f"{'scenario':<26}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}{'failed':>8}"
    print(header)
    for name, r in results:
        print(f"{name:<26}{r['requests']:>9.0f}{r['rate']:>8.1f}{r['p50_ms']:>8.2f}{r['p95_ms']:>8.2f}"
              f"{r['p99_ms']:>8.2f}{r['max_ms']:>8.2f}{r['failed']:>8.0f}")  # fmt: skip
    checks = {
        f"single p99 <= 20 ms at {args.rate:.0f}/s": results[0][1]["p99_ms"] <= 20,
        "batch of 1,000 p99 <= 100 ms": results[1][1]["p99_ms"] <= 100,
        "no failed request during hot reload": reload["failed"] == 0,
        "the promoted model is served after the reload": serving == "2",
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
