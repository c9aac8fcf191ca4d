"""What a run must end with, checked three ways: the publishers' records against the
database, the database's numbering, and every reader's notifications against the database.
Each problem is one line that names the user, the stream and the seqs."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.chaos.reader import Reader

Rows = dict[int, list[tuple[int, str]]]  # user id: [(seq, marker)] in seq order


@dataclass
class Ledger:
    """What the publishers say they did, per user."""

    committed: defaultdict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    rolled_back: defaultdict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    transactions: Counter[str] = field(default_factory=Counter)

    @classmethod
    def read(cls, paths: Iterable[Path], user_ids: Iterable[int]) -> Ledger:
        ledger = cls()
        for path in paths:
            for line in path.read_text().splitlines():
                result = json.loads(line)
                outcome = result["outcome"]
                ledger.transactions[outcome] += 1
                ledger.transactions["looked up"] += bool(result["looked_up"])
                ledger.transactions["found committed"] += result.get("found", 0)
                ledger.transactions["retried"] += result["attempts"] > 1
                into = ledger.committed if outcome == "committed" else ledger.rolled_back
                for marker, recipients in result["calls"]:
                    for user_id in recipients:
                        into[user_id].add(marker)
        for user_id in user_ids:  # the last notification of each user (worker ``finish``)
            ledger.committed[user_id].add(f"end.{user_id}")
        return ledger

    def count(self, which: str) -> int:
        return sum(len(markers) for markers in getattr(self, which).values())


def compact(numbers: Iterable[int], limit: int = 12) -> str:
    """``[1, 2, 3, 7]`` as ``1-3, 7``, cut after ``limit`` ranges."""
    ranges = []
    for _, group in itertools.groupby(enumerate(sorted(numbers)), lambda p: p[1] - p[0]):
        run = [n for _, n in group]
        ranges.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    more = f" and {len(ranges) - limit} more ranges" if len(ranges) > limit else ""
    return ", ".join(ranges[:limit]) + more


def check_database(ledger: Ledger, rows: Rows) -> list[str]:
    problems = []
    for user_id in sorted(set(ledger.committed) | set(rows)):
        seqs = [seq for seq, _ in rows.get(user_id, [])]
        stored = Counter(marker for _, marker in rows.get(user_id, []))
        if seqs != list(range(1, len(seqs) + 1)):
            problems.append(f"user {user_id}: stored seqs are not 1..{len(seqs)}: {seqs[:40]}")
        said = ledger.committed[user_id]
        for text, markers in (
            ("reported committed but not stored", said - set(stored)),
            ("stored but not reported committed", set(stored) - said),
            ("rolled back but stored", ledger.rolled_back[user_id] & set(stored)),
            ("stored more than once", {m for m, n in stored.items() if n > 1}),
        ):
            if markers:
                problems.append(f"user {user_id}: {text}: {sorted(markers)[:20]}")
    return problems


@dataclass
class Tally:
    """One reader's result against what its user was stored."""

    lost: int
    duplicated: int
    problems: list[str]


def check_reader(reader: Reader, expected: Sequence[tuple[int, str]], rolled: set[str]) -> Tally:
    stored = dict(expected)
    seqs = [seq for seq, _ in reader.received]
    counts = Counter(seqs)
    missing = sorted(set(stored) - set(counts))
    duplicated = sorted(seq for seq, n in counts.items() if n > 1)
    found = {
        "missing seqs": missing,
        "duplicated seqs": duplicated,
        "out of order at seqs": [b for a, b in itertools.pairwise(seqs) if b <= a],
        "seqs never stored": sorted(set(counts) - set(stored)),
        "seqs with another notification's content": sorted(
            seq for seq, marker in reader.received if seq in stored and stored[seq] != marker
        ),
        "seqs of rolled-back notifications": [s for s, m in reader.received if m in rolled],
    }
    wrong = "; ".join(f"{what} {compact(numbers)}" for what, numbers in found.items() if numbers)
    problems = [f"{reader.name} ({len(seqs)} received of {len(stored)}): {wrong}"] if wrong else []
    problems += [f"{reader.name}: {anomaly}" for anomaly in reader.anomalies]
    if problems:
        problems += [f"    {line}" for line in reader.history[-20:]]
    return Tally(len(missing), sum(counts[s] - 1 for s in duplicated), problems)
