"""Print a summary written by ``python -m bench --output FILE`` as a Markdown table.

``python -m bench.markdown FILE``: one row per figure, one column per daphne count, as in
``docs/PERFORMANCE.md``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.analysis import HOPS

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
]  # fmt: skip


def table(summary: dict[str, Any]) -> str:
    results = [r for r in summary["results"] if "error" not in r]
    counts = sorted({r["servers"] for r in results})
    header = ["scenario", "figure", "target", *(f"{n} daphne" for n in counts)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario, figure, target, get in FIGURES:
        cells = []
        for count in counts:
            found = [r for r in results if r["scenario"] == scenario and r["servers"] == count]
            try:
                cells.append(str(get(found[0])) if found else "")
            except (KeyError, TypeError):
                cells.append("")
        if any(cells):
            lines.append("| " + " | ".join([scenario, figure, target, *cells]) + " |")
    loads = ", ".join(
        f"{r['scenario']}/{r['servers']}: {r['load_before']} -> {r['load_after']}"
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
