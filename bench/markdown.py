"""Print a summary written by ``python -m bench --output FILE`` as a Markdown table.

``python -m bench.markdown FILE``: one row per figure, one column per daphne count (and
routing design, when the run compared them), as in ``docs/PERFORMANCE.md``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.analysis import HOPS, relative

Getter = Callable[[dict[str, Any]], Any]


def _histogram(figures: dict[str, Any], *names: str) -> str:
    """The figures read from a server's histogram, "" where it counted nothing (a peer)."""
    return " / ".join(str(figures[name]) for name in names) if figures["count"] else ""


# (scenario, figure, target, how to read it from a result)
FIGURES: list[tuple[str, str, str, Getter]] = [
    ("broadcast", "idle streams opened / asked", "10000 / 10000",
     lambda r: f"{r['idle']['opened']} / {r['idle']['streams']}"),
    ("broadcast", "opens/s", ">= 500", lambda r: r["idle"]["opens_per_second"]),
    ("broadcast", "server CPU ms per open", "", lambda r: r["idle"]["server_cpu_ms_per_open"]),
    ("broadcast", "server RSS KB per stream", "<= 64",
     lambda r: r["idle"]["server_rss_kb_per_stream"]),
    ("broadcast", "server threads (all processes)", "",
     lambda r: r["idle"]["server_threads_after"]),
    ("broadcast", "server CPU s, 5 s idle", "", lambda r: r["idle"]["server_cpu_seconds_idle"]),
    ("broadcast", "notify(10k) stored + committed s", "",
     lambda r: r["broadcast"]["stored_and_committed_seconds"]),
    ("broadcast", "notify(10k) publishing s", "",
     lambda r: r["broadcast"]["publish_to_layer_seconds"]),
    ("broadcast", "delivered to every open stream, s after the call", "<= 2",
     lambda r: r["broadcast"]["delivered_to_all_seconds"]),
    ("broadcast", "delivered within 2 s / 20 s, of open streams", "all within 2 s",
     lambda r: f"{r['broadcast']['delivered_within_2s']} / "
     f"{r['broadcast']['delivery']['received']}, of {r['broadcast']['delivery']['streams']}"),
    ("broadcast", "not delivered within 20 s / duplicated", "0 / 0",
     lambda r: f"{r['broadcast']['delivery']['lost']} / "
     f"{r['broadcast']['delivery']['duplicated']}"),
    ("broadcast", "last delivery, s after the call", "",
     lambda r: r["broadcast"]["last_delivery_seconds"]),
    ("broadcast", "server RSS MB after, all processes", "",
     lambda r: r["broadcast"]["server_rss_mb_after"]),
    ("broadcast", "client processes", "", lambda r: r["idle"]["client_processes"]),
    ("rate", "notifications/s achieved (asked)", "500",
     lambda r: f"{r['rate']['achieved_per_second']} ({r['rate']['target_per_second']:g})"),
    ("rate", "latency ms p50", "<= 3", lambda r: r["rate"]["delivery"]["latency_ms"]["p50"]),
    ("rate", "latency ms p90", "", lambda r: r["rate"]["delivery"]["latency_ms"]["p90"]),
    ("rate", "latency ms p99", "<= 15", lambda r: r["rate"]["delivery"]["latency_ms"]["p99"]),
    ("rate", "latency ms p99.9", "", lambda r: r["rate"]["delivery"]["latency_ms"]["p99.9"]),
    ("rate", "latency ms max", "< 25", lambda r: r["rate"]["delivery"]["latency_ms"]["max"]),
    *[
        ("rate", f"hop ms p50 / p99 / p99.9: {hop.replace('_to_', ' -> ')}", "",
         lambda r, hop=hop: _histogram(r["rate"]["hops_ms"][hop], "p50", "p99", "p99.9"))
        for hop in HOPS
    ],
    ("rate", "event loop lag ms p50 / p99 / all under", "",
     lambda r: _histogram(r["rate"]["event_loop_lag_ms"], "p50", "p99", "max_le")),
    ("rate", "sustained notifications/s (p99 < 20 ms, 0 lost)", "",
     lambda r: r["sustained"]["sustained_per_second"]),
    ("rate", "notify() ms p50: store / publish", "",
     lambda r: f"{r['rate']['store_until_commit_ms']['p50']} / "
     f"{r['rate']['publish_to_layer_ms']['p50']}"),
    ("rate", "lost / duplicated / out of order", "0 / 0 / 0",
     lambda r: f"{r['rate']['delivery']['lost']} / {r['rate']['delivery']['duplicated']} / "
     f"{r['rate']['delivery']['out_of_order']}"),
    ("rate", "PG connections at 1,000 streams (active)", "<= 10",
     lambda r: f"{r['idle']['pg_connections_open_streams']} "
     f"({r['idle'].get('pg_connections_active_open_streams', '?')})"),
    ("rate", "PG connections peak while publishing", "",
     lambda r: r["rate"]["pg_connections_peak_publishing"]),
    ("burst", "streams with all 500, in order", "5 / 5",
     lambda r: f"{r['burst']['streams_with_all_in_order']} / {r['burst']['streams']}"),
    ("burst", "lost / duplicated", "0 / 0",
     lambda r: f"{r['burst']['delivery']['lost']} / {r['burst']['delivery']['duplicated']}"),
    ("burst", "s to publish 500 / to last arrival", "",
     lambda r: f"{r['burst']['publish_seconds']} / {r['burst']['last_arrival_seconds']}"),
    *[
        ("scale", figure, target, get)
        for figure, target, get in [
            ("streams opened / asked", "", lambda r: f"{r['idle']['opened']} / "
             f"{r['idle']['streams']}"),
            ("opens/s", "", lambda r: r["idle"]["opens_per_second"]),
            ("server CPU ms per open, all processes", "~0.9",
             lambda r: r["idle"]["per_open"]["server_cpu_ms"]),
            ("Redis commands per open", "", lambda r: r["idle"]["per_open"]["redis_commands"]),
            ("server RSS KB per stream", "<= 40", lambda r: r["idle"]["server_rss_kb_per_stream"]),
            ("targeted: notifications/s achieved (asked)", "",
             lambda r: f"{r['rate']['achieved_per_second']} ({r['rate']['target_per_second']:g})"),
            ("targeted: latency ms p50 / p99 / max", "p99 <= 15",
             lambda r: " / ".join(str(r["rate"]["delivery"]["latency_ms"][q])
                                  for q in ("p50", "p99", "max"))),
            ("targeted: lost / duplicated / out of order", "0 / 0 / 0",
             lambda r: _lost(r["rate"]["delivery"])),
            ("targeted: server CPU ms per notification, all processes", "",
             lambda r: r["rate"]["per_notification"]["server_cpu_ms"]),
            ("targeted: Redis bytes out per notification", "",
             lambda r: r["rate"]["per_notification"]["redis_bytes_out"]),
            ("targeted: Redis commands per notification", "",
             lambda r: r["rate"]["per_notification"]["redis_commands"]),
            ("broadcast: delivered to all, s after the call", "<= 2",
             lambda r: r["broadcast"]["delivered_to_all_seconds"]),
            ("broadcast: lost / duplicated / out of order", "0 / 0 / 0",
             lambda r: _lost(r["broadcast"]["delivery"])),
            ("broadcast: server CPU ms per recipient, all processes", "",
             lambda r: r["broadcast"]["per_recipient"]["server_cpu_ms"]),
            ("broadcast: Redis bytes out per recipient", "",
             lambda r: r["broadcast"]["per_recipient"]["redis_bytes_out"]),
            ("broadcast: Redis commands per recipient", "",
             lambda r: r["broadcast"]["per_recipient"]["redis_commands"]),
        ]
    ],
]  # fmt: skip

# The targets for ``scale``: a figure as a multiple of the same figure (same routing
# design) at the fewest processes of the run, normally 1.
RATIOS: list[tuple[str, str, Getter]] = [
    ("targeted: server CPU per notification, x the fewest processes'",
     "4: <= 1.15, 8: <= 1.3", lambda r: r["rate"]["per_notification"]["server_cpu_ms"]),
    ("targeted: Redis bytes out per notification, x the fewest processes'", "4: <= 1.25",
     lambda r: r["rate"]["per_notification"]["redis_bytes_out"]),
]  # fmt: skip


def _lost(delivery: dict[str, Any]) -> str:
    return f"{delivery['lost']} / {delivery['duplicated']} / {delivery['out_of_order']}"


# A column of the table: (daphne count, routing design).
Column = tuple[int, str]


def _routing(result: dict[str, Any]) -> str:
    return str(result.get("routing", ""))  # "": a run from before ``--routing``


def columns(results: list[dict[str, Any]]) -> list[Column]:
    """One column per daphne count and routing design, the designs of a count side by side."""
    return sorted({(r["servers"], _routing(r)) for r in results})


def _heading(column: Column, compared: bool) -> str:
    count, routing = column
    return f"{count} daphne, {routing}" if compared else f"{count} daphne"


def _found(results: list[dict[str, Any]], scenario: str, column: Column) -> dict[str, Any] | None:
    for result in results:
        if result["scenario"] == scenario and (result["servers"], _routing(result)) == column:
            return result
    return None


# A figure the run did not measure (a missing scenario, or an older summary without it).
MISSING = object()


def _value(get: Getter, result: dict[str, Any] | None) -> Any:
    """``get(result)``, or ``MISSING`` where the result or the figure is missing."""
    if result is None:
        return MISSING
    try:
        return get(result)
    except (KeyError, TypeError):
        return MISSING


def _number(get: Getter, result: dict[str, Any] | None) -> float | None:
    value = _value(get, result)
    return None if value is MISSING else value


def ratio_cells(results: list[dict[str, Any]], cols: list[Column], get: Getter) -> list[str]:
    """Each column's ``scale`` figure as a multiple of the same design's at its fewest
    processes."""
    cells = []
    for count, routing in cols:
        fewest = min(c for c, r in cols if r == routing)
        value = _number(get, _found(results, "scale", (count, routing)))
        baseline = _number(get, _found(results, "scale", (fewest, routing)))
        ratio = relative(value, baseline)
        cells.append("" if ratio is None else f"{ratio:g}x")
    return cells


def table(summary: dict[str, Any]) -> str:
    results = [r for r in summary["results"] if "error" not in r]
    cols = columns(results)
    compared = len({routing for _, routing in cols}) > 1
    header = ["scenario", "figure", "target", *(_heading(c, compared) for c in cols)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario, figure, target, get in FIGURES:
        values = [_value(get, _found(results, scenario, column)) for column in cols]
        cells = ["" if value is MISSING else str(value) for value in values]
        if any(cells):
            lines.append("| " + " | ".join([scenario, figure, target, *cells]) + " |")
    for figure, target, get in RATIOS:
        cells = ratio_cells(results, cols, get)
        if any(cells):
            lines.append("| " + " | ".join(["scale", figure, target, *cells]) + " |")
    loads = ", ".join(
        f"{'/'.join(filter(None, [r['scenario'], str(r['servers']), _routing(r)]))}: "
        f"{r['load_before']} -> {r['load_after']}"
        for r in summary["results"]
    )
    return "\n".join(lines) + f"\n\nLoad averages (before -> after): {loads}\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.markdown")
    parser.add_argument("file", type=Path)
    summary = json.loads(parser.parse_args().file.read_text())
    print(table(summary))


if __name__ == "__main__":
    main()
