"""Summarise py-spy's collapsed stacks: where the sampled CPU time went.

``python -m bench.profile FILE [--top N] [--match TEXT]``: the functions holding the most
samples, inclusive (anywhere on the stack) and self (on top of it).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# py-spy frames look like "function (path/to/module.py:123)".
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """Return ``module.py:function`` for a frame, without line numbers or site-packages."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{match['func']}"


def load(path: Path, match: str = "") -> tuple[Counter[str], Counter[str], int]:
    """Return inclusive and self sample counts by frame, and the total of samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit() or (match and match not in stack):
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";")]
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    return inclusive, own, total


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only stacks containing this text")
    args = parser.parse_args()
    inclusive, own, total = load(args.file, args.match)
    if not total:
        print("no samples")
        return
    for title, counts in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title} (of {total} samples)")
        for name, count in counts.most_common(args.top):
            print(f"  {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
