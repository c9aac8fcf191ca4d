"""The code blocks of README.md and docs/, found by name, so the tests run what users paste.

Every fenced block in those files follows a comment that says what it is:

    <!-- recipe: clients-python -->      a block the suite runs: a test asks for it by name
    <!-- sample: output -->              not pasted: output, a picture of the stream, a layout

``tests/test_recipes.py`` fails on a block without one, and on a recipe no test names.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)
_MARK = re.compile(r"<!--\s*(?P<kind>recipe|sample):\s*(?P<name>[^>]*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its mark and its code."""

    document: Path
    line: int
    lang: str
    kind: str | None  # "recipe", "sample", or None when unmarked
    name: str
    code: str

    def __str__(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line} ({self.lang or 'no language'})"


def blocks(document: Path) -> list[Block]:
    """Return every fenced block of ``document``, with the mark on the line before it."""
    text = document.read_text()
    found = []
    for match in _BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = _MARK.search(before)
        indent = match.group("indent")
        code = "".join(
            line.removeprefix(indent) for line in match.group("code").splitlines(keepends=True)
        )
        found.append(
            Block(
                document=document,
                line=text.count("\n", 0, match.start()) + 1,
                lang=match.group("lang"),
                kind=mark.group("kind") if mark else None,
                name=mark.group("name") if mark else "",
                code=code,
            )
        )
    return found


def recipe(name: str) -> str:
    """Return the code of the one block marked ``<!-- recipe: name -->``."""
    matches = [b for doc in DOCUMENTS for b in blocks(doc) if b.kind == "recipe" and b.name == name]
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} blocks are marked 'recipe: {name}', not one")
    return matches[0].code


def shell_commands(code: str) -> list[list[str]]:
    """Split a shell block into its commands' words: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]
