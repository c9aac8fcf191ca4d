"""Run the benchmark: ``python -m bench`` (or ``python bench/run.py``), ``--help`` for options."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import database, emails, markdown, procfs, report, scenarios, stalled
from bench.options import ROUTED_FANOUT, STREAMS, Options, parse
from bench.server import ROOT


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def revision() -> dict[str, Any]:
    """Return the commit under test, and whether the code served has uncommitted changes."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "notifications", "project")),
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in procfs.load_average())


def run_one(run: scenarios.Run, scenario: str) -> dict[str, Any]:
    options = run.options
    if scenario == "burst":
        return scenarios.burst(run)
    if scenario == "emails":
        return emails.emails(run.users[: options.streams_for(scenario)], options.base_port)
    if scenario == "stalled":
        return stalled.stalled(run)
    count = options.streams_for(scenario)
    if scenario == "scale":
        return scenarios.scale(run, count)
    if scenario == "rate":
        result = scenarios.rate(run, count)
        if options.find_sustained:
            result["sustained"] = scenarios.sustained(run, count)
        return result
    return scenarios.idle(run, count, broadcast=scenario == "broadcast")


def run_all(options: Options, logs: Path) -> list[dict[str, Any]]:
    database.ensure_database(options)
    if options.site == "peer":
        database.prepare_peer(options)
    database.setup_django(options)
    database.migrate()
    most = max(max(options.streams_for(s) for s in options.scenarios), STREAMS["burst"])
    # The last users (one per server) warm the servers up.
    users, password_hash = database.ensure_users(most + max(options.servers))
    database.reset_log()
    results = []
    with database.ConnectionSampler(options) as sampler:
        run = scenarios.Run(options, users, password_hash, logs, sampler)
        for count in options.servers:
            run.current_servers = count
            # Both designs at each count in turn, so that they are compared minutes apart.
            for routing in options.routings:
                run.options = dataclasses.replace(options, routing=routing)
                for scenario in options.scenarios:
                    results.append(_timed(run, scenario, logs))
    return results


def _timed(run: scenarios.Run, scenario: str, logs: Path) -> dict[str, Any]:
    """Run one scenario; note the design, the load before and after, and how long it took."""
    count, routing = run.current_servers, run.options.routing
    log(f"{scenario} with {count} daphne process(es), {routing} routing; load {_load()}")
    load_before = _load()
    started = time.monotonic()
    try:
        result = run_one(run, scenario)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # one failed scenario must not hide the others
        log(f"{scenario} failed: {e!r}; logs in {logs}")
        result = {"scenario": scenario, "servers": count, "error": repr(e)}
    result["routing"] = routing
    # None: the product's default (NOTIFICATIONS["ROUTED_FANOUT"]).
    result["routed_fanout"] = run.options.env("server").get(ROUTED_FANOUT)
    result["load_before"] = load_before
    result["load_after"] = _load()
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _terminate(signum: int, _frame: object) -> None:
    # Turn SIGTERM into an exception, so every ``finally`` stops its processes.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    problem = options.open_files_problem(procfs.raise_open_files_limit())
    if problem:
        log(f"not started: {problem}")
        return 2
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    log(f"logs in {logs}")
    started = time.time()
    code = revision()  # before the run: the code may change while it runs
    try:
        results = run_all(options, logs)
    except KeyboardInterrupt:
        log("interrupted; every process this run started has been stopped")
        return 130
    summary = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": machine(),
        "revision": code,
        "options": {
            k: v
            for k, v in vars(options).items()
            if k not in ("postgres", "extra_env", "secret_key", "routing")
        },
        "logs": str(logs),
        "results": results,
    }
    print(report.table(results))
    if "scale" in options.scenarios:  # its figures are read side by side
        print(markdown.table(summary))
    print(json.dumps(summary, default=str))
    if options.output:
        Path(options.output).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    failed = [r for r in results if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
