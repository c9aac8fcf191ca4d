"""The benchmark's ``scale`` scenario and its large broadcasts: the options, the per-notification
costs, the side-by-side table, and Redis counters added up over several Redis servers.

The runs themselves take minutes and are for the bench (docs/PERFORMANCE.md); what is checked
here is the logic that turns their totals into the figures, and the commands as documented.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import redis

from bench import analysis, markdown, redisstats
from bench.options import ROUTED_FANOUT, parse
from tests.recipes import recipe, shell_commands


def test_costs_divide_a_phase_s_totals_by_what_it_did() -> None:
    measured = {"redis_bytes_out": 3_200_000, "redis_commands": 3_300, "other": 1}
    costs = analysis.costs(1.856, measured, 3_200)
    assert costs == {
        "count": 3_200,
        "server_cpu_ms": 0.58,
        "redis_bytes_out": 1_000.0,
        "redis_commands": 1.031,
    }


def test_a_cost_nothing_was_counted_for_is_none() -> None:
    assert analysis.costs(1.0, {}, 100)["redis_bytes_out"] is None  # Redis was not asked
    assert analysis.costs(1.0, {"redis_bytes_out": 5}, 0)["server_cpu_ms"] is None
    assert analysis.relative(1.2, None) is None
    assert analysis.relative(None, 1.0) is None
    assert analysis.relative(1.21, 1.1) == 1.1


def test_group_routing_reaches_servers_and_publishers_and_user_routing_inherits_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ROUTED_FANOUT, "0")  # left over in the shell: never the run's design
    options = parse(["--scenario", "scale", "--routing", "both", "--servers", "1,2,4,8"])
    assert options.routings == ("group", "user")
    assert options.servers == (1, 2, 4, 8)
    group = dataclasses.replace(options, routing="group")
    user = dataclasses.replace(options, routing="user")
    for role in ("server-8101", "publisher"):
        assert group.env(role)[ROUTED_FANOUT] == "0"
        assert ROUTED_FANOUT not in user.env(role)
    chosen = parse(["--routing", "user", "--env", f"{ROUTED_FANOUT}=16"])
    assert (chosen.routings, chosen.env("publisher")[ROUTED_FANOUT]) == (("user",), "16")
    forced = parse(["--routing", "group", "--env", f"{ROUTED_FANOUT}=16"])
    assert forced.env("server-8101")[ROUTED_FANOUT] == "0"


def test_scale_has_its_own_targeted_rate_unless_one_is_given() -> None:
    options = parse(["--scenario", "scale"])
    assert options.streams_for("scale") == 1_000
    assert options.rate_for("scale") == (400, 8)  # 3,200 notifications, as in issue 22
    assert options.rate_for("rate") == (500, 10)
    assert parse(["--rate", "100", "--duration", "3"]).rate_for("scale") == (100, 3)
    with pytest.raises(SystemExit):
        parse(["--rate", "0"])


def test_large_runs_get_client_processes_and_time_enough() -> None:
    huge = parse(["--scenario", "broadcast", "--streams", "100000", "--servers", "8"])
    assert huge.clients_for(100_000) == 7  # each under 15,000 streams, from its own address
    assert huge.clients_for(1_000) == 1
    assert huge.clients_for(10_000) == 2
    assert huge.open_budget_for(100_000) == 400
    assert huge.open_budget_for(1_000) == 90
    assert parse(["--clients", "3", "--open-budget", "30"]).open_budget_for(100_000) == 30
    with pytest.raises(SystemExit):
        parse(["--servers", "9"])
    with pytest.raises(SystemExit):
        parse(["--streams", "100001"])


def test_a_run_that_would_run_out_of_open_files_says_so_before_it_starts() -> None:
    too_few = parse(["--scenario", "broadcast", "--streams", "100000", "--servers", "4"])
    problem = too_few.open_files_problem(20_000)
    assert problem is not None and "25000 per process" in problem and "--servers" in problem
    assert too_few.open_files_problem(1_048_576) is None
    enough = parse(["--scenario", "broadcast", "--streams", "100000", "--servers", "8"])
    assert enough.open_files_problem(20_000) is None
    one_client = parse(["--scenario", "broadcast", "--streams", "100000", "--servers", "8",
                        "--clients", "1"])  # fmt: skip
    assert "--clients" in (one_client.open_files_problem(20_000) or "")


def test_several_redis_urls_are_one_url_per_server() -> None:
    urls = "redis://127.0.0.1:6390/9, redis://127.0.0.1:6391/9,redis://127.0.0.1:6390/10"
    assert redisstats.urls(urls) == [
        "redis://127.0.0.1:6390/9",
        "redis://127.0.0.1:6391/9",
        "redis://127.0.0.1:6390/10",
    ]
    assert redisstats.servers(urls) == ["redis://127.0.0.1:6390/9", "redis://127.0.0.1:6391/9"]


def test_redis_counters_add_up_over_the_servers_and_count_each_server_once(
    redis_server_factory: Any,
) -> None:
    first, second = redis_server_factory(), redis_server_factory()
    both = f"{first.url},{second.url}"
    twice = f"{first.url},{first.url[:-1]}1"  # two databases of one server

    def commands_while(url: str, pings: int, target: str) -> int:
        before = redisstats.snapshot(url)
        client = redis.Redis.from_url(target)
        try:
            for _ in range(pings):
                client.ping()
        finally:
            client.close()
        return redisstats.delta(before, redisstats.snapshot(url))["redis_commands"]

    # Each snapshot's own connection and INFO add a handful of commands on top.
    assert 100 <= commands_while(both, 100, second.url) < 120
    assert 100 <= commands_while(both, 100, first.url) < 120
    assert 50 <= commands_while(twice, 50, first.url) < 70


def test_a_server_that_does_not_answer_makes_no_sum() -> None:
    assert redisstats.snapshot("redis://127.0.0.1:1/0") == {}


def scale_result(servers: int, routing: str, cpu_ms: float, bytes_out: float) -> dict[str, Any]:
    """The part of a ``scale`` result the ratio rows read."""
    per_notification = {"server_cpu_ms": cpu_ms, "redis_bytes_out": bytes_out}
    return {
        "scenario": "scale",
        "servers": servers,
        "routing": routing,
        "rate": {"per_notification": per_notification},
        "load_before": "1.00",
        "load_after": "1.00",
    }


def test_the_table_puts_both_designs_side_by_side_with_multiples_of_one_process() -> None:
    results = [
        scale_result(1, "group", 0.58, 297),
        scale_result(1, "user", 0.60, 300),
        scale_result(4, "group", 1.05, 1_176),
        scale_result(4, "user", 0.66, 330),
    ]
    table = markdown.table({"results": results})
    header = table.splitlines()[0]
    assert header.endswith(
        "| 1 daphne, group | 1 daphne, user | 4 daphne, group | 4 daphne, user |"
    )
    cpu = next(line for line in table.splitlines() if "server CPU per notification, x" in line)
    assert cpu.endswith("| 1x | 1x | 1.81x | 1.1x |")
    bytes_out = next(
        line for line in table.splitlines() if "Redis bytes out per notification, x" in line
    )
    assert bytes_out.endswith("| 1x | 1x | 3.96x | 1.1x |")


def test_a_table_of_one_design_keeps_its_headings() -> None:
    table = markdown.table({"results": [scale_result(1, "user", 0.6, 300)]})
    assert table.splitlines()[0].endswith("| 1 daphne |")


def test_the_documented_scale_commands_are_accepted() -> None:
    found = shell_commands(recipe("perf-scale"))
    bench = [words for words in found if words[:3] == ["python", "-m", "bench"]]
    assert bench
    for words in bench:
        parse(words[3:])  # exits, failing the test, on an option it does not know
