"""The fault suite's verdict must catch every way a run can go wrong, and name the seqs."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.e2e.chaos.reader import Reader
from tests.e2e.chaos.verdict import Ledger, check_database, check_reader, compact


def reader(*received: tuple[int, str]) -> Reader:
    r = Reader("stream 0 of user 7", 7, "token", servers=list, rng=random.Random(0))
    r.received = list(received)
    return r


def publisher_file(path: Path, *results: tuple[str, list[tuple[str, list[int]]]]) -> Path:
    lines = [
        {"tx": n, "calls": calls, "attempts": 1, "looked_up": 0, "outcome": outcome}
        for n, (outcome, calls) in enumerate(results)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_a_clean_run_has_no_problem(tmp_path: Path) -> None:
    out = publisher_file(
        tmp_path / "p.jsonl",
        ("committed", [("a", [7])]),
        ("rolled_back", [("b", [7])]),
        ("committed", [("c", [7])]),
    )
    ledger = Ledger.read([out], [7])
    rows = {7: [(1, "a"), (2, "c"), (3, "end.7")]}
    assert check_database(ledger, rows) == []
    tally = check_reader(reader(*rows[7]), rows[7], ledger.rolled_back[7])
    assert (tally.lost, tally.duplicated, tally.problems) == (0, 0, [])
    assert (ledger.count("committed"), ledger.count("rolled_back")) == (3, 1)


def test_losses_duplicates_and_disorder_are_named_by_seq() -> None:
    expected = [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    tally = check_reader(reader((1, "a"), (3, "c"), (2, "b"), (3, "c"), (9, "x")), expected, {"x"})
    assert (tally.lost, tally.duplicated) == (1, 1)
    [problem] = tally.problems
    assert problem.startswith("stream 0 of user 7 (5 received of 4): missing seqs 4;")
    assert "duplicated seqs 3;" in problem
    assert "out of order at seqs 2;" in problem
    assert "seqs never stored 9;" in problem
    assert "seqs of rolled-back notifications 9" in problem


def test_the_publishers_records_are_held_to_the_database(tmp_path: Path) -> None:
    out = publisher_file(
        tmp_path / "p.jsonl",
        ("committed", [("a", [7]), ("b", [7, 8])]),
        ("rolled_back", [("c", [8])]),
    )
    ledger = Ledger.read([out], [7, 8])
    rows = {7: [(1, "a"), (3, "end.7")], 8: [(1, "b"), (2, "c"), (3, "c"), (4, "end.8")]}
    problems = check_database(ledger, rows)
    assert "user 7: stored seqs are not 1..2: [1, 3]" in problems
    assert "user 7: reported committed but not stored: ['b']" in problems
    assert "user 8: stored but not reported committed: ['c']" in problems
    assert "user 8: rolled back but stored: ['c']" in problems
    assert "user 8: stored more than once: ['c']" in problems


def test_compact_ranges() -> None:
    assert compact([7, 1, 2, 3, 9, 10]) == "1-3, 7, 9-10"
    assert compact(range(0, 40, 2), limit=2) == "0, 2 and 18 more ranges"
