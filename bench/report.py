"""The readable table: each scenario's figures next to its target."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str, str]  # figure, value, target, verdict


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def _row(figure: str, value: Any, target: str = "", ok: bool | None = None) -> Row:
    return figure, str(value), target, _verdict(ok)


def _le(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def _open_rows(idle: dict[str, Any], *, targets: bool) -> list[Row]:
    per_stream = idle["server_rss_kb_per_stream"]
    rows = [
        _row("streams opened / failed", f"{idle['opened']} / {idle['failed']}", "0 failed",
             idle["failed"] == 0),
        _row("opens/s", idle["opens_per_second"], ">= 500" if targets else "",
             (idle["opens_per_second"] or 0) >= 500 if targets else None),
        _row("server RSS KB per stream", per_stream, "<= 64" if targets else "",
             _le(per_stream, 64) if targets else None),
        _row("server RSS MB before -> after",
             f"{idle['server_rss_mb_before']} -> {idle['server_rss_mb_after']}"),
        _row("server threads before -> after",
             f"{idle['server_threads_before']} -> {idle['server_threads_after']}"),
        _row("server CPU s opening / idle 5 s",
             f"{idle['server_cpu_seconds_opening']} / {idle['server_cpu_seconds_idle']}"),
        _row("server CPU ms per open", idle["server_cpu_ms_per_open"]),
        _row("open latency ms p50 / p99",
             f"{idle['open_latency_ms']['p50']} / {idle['open_latency_ms']['p99']}"),
        _row("PG connections open (active) / peak opening",
             f"{idle['pg_connections_open_streams']} "
             f"({idle['pg_connections_active_open_streams']}) / "
             f"{idle['pg_connections_peak_while_opening']} "
             f"({idle['pg_connections_peak_active_while_opening']})"),
    ]  # fmt: skip
    for quarter in idle.get("opening_by_quarter", []):
        rows.append(
            _row(
                f"  streams {quarter['streams']}: opens/s, CPU ms/open, KB/stream",
                f"{quarter['opens_per_second']}, {quarter['cpu_ms_per_open']}, "
                f"{quarter['rss_kb_per_stream']}",
            )
        )
    if idle["open_errors"]:
        rows.append(_row("open errors", idle["open_errors"]))
    return rows


def _delivery_rows(delivery: dict[str, Any], lost: str = "lost") -> list[Row]:
    clean = delivery["lost"] == 0 and delivery["duplicated"] == 0
    rows = [
        _row("received / expected", f"{delivery['received']} / {delivery['expected']}"),
        _row(f"{lost} / duplicated / out of order",
             f"{delivery['lost']} / {delivery['duplicated']} / {delivery['out_of_order']}",
             "0 / 0 / 0", clean and delivery["out_of_order"] == 0),
    ]  # fmt: skip
    if delivery["other_events"]:
        rows.append(_row("other events seen", delivery["other_events"]))
    return rows


def _stalled_rows(result: dict[str, Any]) -> list[Row]:
    out = []
    for name in ("bounded", "unbounded"):
        r = result[name]
        out += [
            _row(f"{name}: limit", r["limit"]),
            _row(f"{name}: closed by the server", r["closed_by_server"], "yes" if name ==
                 "bounded" else "", r["closed_by_server"] if name == "bounded" else None),
            _row(f"{name}: RSS MB before / peak", f"{r['server_rss_mb_before']} / "
                 f"{r['server_rss_mb_peak']}"),
            _row(f"{name}: RSS MB all sent / client gone",
                 f"{r['server_rss_mb_all_sent']} / {r['server_rss_mb_after_client_gone']}"),
        ]  # fmt: skip
    return out


def _budget_rows(rate: dict[str, Any]) -> list[Row]:
    """Each hop's p50 / p99 and the event loop's lag, read from the servers' histograms."""
    named = {f"hop {hop.replace('_to_', ' -> ')}": h for hop, h in rate.get("hops_ms", {}).items()}
    named["event loop lag"] = rate.get("event_loop_lag_ms", {"count": 0})
    return [
        _row(f"{name} ms p50 / p99 / p99.9 / all under",
             f"{h['p50']} / {h['p99']} / {h.get('p99.9')} / {h['max_le']}")
        for name, h in named.items()
        if h["count"]
    ]  # fmt: skip


def _sustained_rows(sustained: dict[str, Any] | None) -> list[Row]:
    """The rates tried by ``--find-sustained``, and the highest that met its bar."""
    if not sustained:
        return []
    bar = f"p99 < {sustained['p99_under_ms']:g} ms, 0 lost"
    out = [_row("sustained notifications/s", sustained["sustained_per_second"], bar)]
    for step in sustained["steps"]:
        lat = step["latency_ms"]
        out.append(_row(
            f"  {step['target_per_second']}/s: achieved, p50 / p99 / max ms, lost",
            f"{step['achieved_per_second']}, {lat['p50']} / {lat['p99']} / {lat['max']}, "
            f"{step['lost']}", "", step["met"],
        ))  # fmt: skip
    return out


def _broadcast_rows(b: dict[str, Any], idle: dict[str, Any]) -> list[Row]:
    n = b["recipients"]
    return [
        _row(f"notify({n}): stored+committed s", b["stored_and_committed_seconds"]),
        _row(f"notify({n}): publish to layer s", b["publish_to_layer_seconds"]),
        _row("delivered to all streams s", b["delivered_to_all_seconds"], "<= 2",
             _le(b["delivered_to_all_seconds"], 2) if n <= 10_000 else None),
        _row("last delivery s after the call", b.get("last_delivery_seconds")),
        _row("delivered within 1 / 2 / 5 / 10 / 20 / 60 s",
             " / ".join(str(n) for n in b["delivered_by_seconds"].values())),
        *_delivery_rows(b["delivery"], lost=f"not there in {b['delivery_window_seconds']:g} s"),
        _row("server CPU s broadcast", b["server_cpu_seconds_publishing"]),
        _row("server RSS MB after (all processes)", b["server_rss_mb_after"]),
        _row("client processes (from)",
             f"{idle.get('client_processes')} ({', '.join(idle.get('client_sources', []))})"),
    ]  # fmt: skip


def _rate_rows(r: dict[str, Any], idle: dict[str, Any], *, pg_target: bool) -> list[Row]:
    """The targeted rate's rows; the PostgreSQL target (10 connections at 1,000 streams) is
    the ``rate`` scenario's, with 1 or 2 processes."""
    lat = r["delivery"]["latency_ms"]
    pg = idle["pg_connections_open_streams"]
    return [
        _row("sent / achieved per s", f"{r['sent']} / {r['achieved_per_second']}",
             f"{r['target_per_second']:g}/s"),
        _row("latency ms p50", lat["p50"], "<= 3", _le(lat["p50"], 3)),
        _row("latency ms p90 / p99.9", f"{lat['p90']} / {lat.get('p99.9')}"),
        _row("latency ms p99", lat["p99"], "<= 15", _le(lat["p99"], 15)),
        _row("latency ms max", lat["max"], "< 25", lat["max"] is not None and lat["max"] < 25),
        *_budget_rows(r),
        *_delivery_rows(r["delivery"]),
        _row("notify ms p50: store / publish",
             f"{r['store_until_commit_ms']['p50']} / {r['publish_to_layer_ms']['p50']}"),
        _row("server CPU s publishing", r["server_cpu_seconds_publishing"]),
        _row("PG connections at open streams", pg, "<= 10" if pg_target else "",
             pg <= 10 if pg_target else None),
        _row("PG connections peak publishing", r["pg_connections_peak_publishing"]),
    ]  # fmt: skip


# (what, where its costs are in a ``scale`` result)
COSTS = (
    ("open", ("idle", "per_open")),
    ("targeted notification", ("rate", "per_notification")),
    ("broadcast recipient", ("broadcast", "per_recipient")),
)


def _cost_rows(result: dict[str, Any]) -> list[Row]:
    """Per open and per notification: server CPU (all processes), Redis bytes out, commands."""
    out = []
    for what, (phase, key) in COSTS:
        c = result[phase][key]
        out.append(
            _row(
                f"per {what}: server CPU ms / Redis bytes out / commands",
                f"{c['server_cpu_ms']} / {c['redis_bytes_out']} / {c['redis_commands']}",
            )
        )
    return out  # fmt: skip


def rows(result: dict[str, Any]) -> list[Row]:
    scenario = result["scenario"]
    if scenario == "emails":
        return [
            _row("users / notifications each", f"{result['users']} / "
                 f"{result['notifications_per_user']}"),
            _row("emails sent / received by the sink",
                 f"{result['emails_sent']} / {result['emails_received_by_sink']}",
                 "equal", result["emails_sent"] == result["emails_received_by_sink"]),
            _row("emails/s", result["emails_per_second"]),
            _row("queries / per email", f"{result['queries']} / {result['queries_per_email']}"),
        ]  # fmt: skip
    if scenario == "stalled":
        return _stalled_rows(result)
    idle = result["idle"]
    out = _open_rows(idle, targets=scenario in ("idle", "broadcast"))
    if scenario == "broadcast":
        out += _broadcast_rows(result["broadcast"], idle)
    elif scenario == "rate":
        out += _rate_rows(result["rate"], idle, pg_target=True)
        out += _sustained_rows(result.get("sustained"))
    elif scenario == "scale":
        out += _rate_rows(result["rate"], idle, pg_target=False)
        out += _broadcast_rows(result["broadcast"], idle)
        out += _cost_rows(result)
    elif scenario == "burst":
        b = result["burst"]
        out += [
            _row("streams with all, in seq order",
                 f"{b['streams_with_all_in_order']} / {b['streams']}", "all",
                 b["streams_with_all_in_order"] == b["streams"]),
            *_delivery_rows(b["delivery"]),
            _row("publish s / last arrival s",
                 f"{b['publish_seconds']} / {b['last_arrival_seconds']}"),
        ]  # fmt: skip
    return out


def table(results: list[dict[str, Any]]) -> str:
    """Format every result as one table, a block per scenario and server count."""
    header = ("figure", "value", "target", "")
    lines: list[str] = []
    for result in results:
        if "error" in result:
            title = (
                f"{result['scenario']}, {result['servers']} daphne, "
                f"{result.get('routing', 'user')} routing: FAILED"
            )
            lines += ["", title, f"  {result['error'][-300:]}"]
            continue
        body = rows(result)
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]
        load = f"load {result['load_before']} -> {result['load_after']}"
        site = ", django-eventstream" if result.get("site") == "peer" else ""
        routing = f", {result.get('routing', 'user')} routing"
        lines += ["", f"{result['scenario']}{site}, {result['servers']} daphne{routing} ({load})"]
        for row in [header, *body]:
            lines.append(
                "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            )
    return "\n".join(lines).rstrip() + "\n"
