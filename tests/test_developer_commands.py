"""The commands docs/PERFORMANCE.md and docs/TESTING.md give developers, checked as written.

A benchmark run takes minutes and the fault suite already runs in ``make test``, so these
commands are not run to the end here: each ``make`` line is expanded by ``make -n`` with its
variables, each ``python -m bench`` line is parsed by the benchmark's own argument parser,
and the private Redis line starts a real ``redis-server`` (on a free port). A renamed option,
scenario, endpoint, target or variable fails here instead of in a reader's terminal.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

import pytest

from bench.options import ENDPOINTS, parse
from tests.conftest import free_port, redis_answers
from tests.recipes import ROOT, recipe, shell_commands


def expand_make(words: list[str]) -> str:
    """Dry-run a ``[VAR=value ...] make target [VAR=value ...]`` line; return the recipe."""
    at = words.index("make")
    env = {**os.environ, **dict(w.split("=", 1) for w in words[:at])}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *words[at + 1 :]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def check(words: list[str]) -> None:
    if "make" in words:
        expand_make(words)
    elif words[:3] in (["python", "-m", "bench"], [".venv/bin/python", "-m", "bench"]):
        parse(words[3:])  # exits, failing the test, on an option it does not know
    elif words[0] == "redis-server":
        start_private_redis(words)
    else:
        pytest.fail(f"no check for the documented command {shlex.join(words)!r}")


def start_private_redis(words: list[str]) -> None:
    """Start the documented private Redis, on a free port instead of the documented one."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    words = [str(port) if w == words[words.index("--port") + 1] else w for w in words]
    subprocess.run(words, check=True, capture_output=True, timeout=10)
    try:
        for _ in range(100):
            if redis_answers(port):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert redis_answers(port)
    finally:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(recipe("perf-running"), id="perf-running"),
        pytest.param(recipe("perf-reproduce"), id="perf-reproduce"),
        pytest.param(recipe("perf-hardening-check"), id="perf-hardening-check"),
        pytest.param(recipe("perf-latency-budget"), id="perf-latency-budget"),
        pytest.param(recipe("perf-side-by-side"), id="perf-side-by-side"),
        pytest.param(recipe("perf-side-by-side-direct"), id="perf-side-by-side-direct"),
        pytest.param(recipe("perf-latency-tail"), id="perf-latency-tail"),
        pytest.param(recipe("perf-direct-doorbells"), id="perf-direct-doorbells"),
        pytest.param(recipe("perf-broadcast-100k"), id="perf-broadcast-100k"),
        pytest.param(recipe("testing-chaos"), id="testing-chaos"),
    ],
)
def test_each_documented_command_is_accepted(code: str) -> None:
    found = shell_commands(code)
    assert found
    for words in found:
        check(words)


def test_the_endpoints_named_in_a_comment_exist() -> None:
    named = re.findall(r"--endpoint ([\w-]+(?:, [\w-]+)*)", recipe("perf-reproduce"))
    endpoints = {e for group in named for e in re.split(r",\s*", group)}
    assert endpoints and endpoints <= set(ENDPOINTS)


def test_make_chaos_passes_the_seeds_on() -> None:
    assert "CHAOS_SEEDS=100" in expand_make(["make", "chaos", "SEEDS=100"])
    assert "CHAOS_SEED=17" in expand_make(["make", "chaos", "SEED=17"])
    chaos = (ROOT / "tests" / "e2e" / "test_chaos.py").read_text()
    for variable in re.findall(r"\b(CHAOS_[A-Z]+)=", recipe("testing-chaos")):
        assert f'"{variable}"' in chaos, f"{variable} is documented but not read"


def test_the_peer_goes_with_the_rate_scenario_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse(["--scenario", "rate", "--site", "peer"]).served_database == "bench_peer"
    with pytest.raises(SystemExit):
        parse(["--scenario", "rate", "--scenario", "burst", "--site", "peer"])
    assert "--site peer only goes with --scenario rate" in capsys.readouterr().err
