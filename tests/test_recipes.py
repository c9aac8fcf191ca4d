"""Every block a user might paste from README.md or docs/ is run by some test.

A block is marked as a recipe (a test runs it, asking for it by name) or as a sample (output,
a diagram); an unmarked block, or a recipe that no test names, fails here, so a new snippet
cannot land without the test that keeps it true.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.recipes import DOCUMENTS, ROOT, Block, blocks

ALL = [block for document in DOCUMENTS for block in blocks(document)]
TESTS = "\n".join(
    path.read_text()
    for path in (ROOT / "tests").rglob("*.py")
    if path.name not in {"recipes.py", "test_recipes.py"}
)


@pytest.mark.parametrize("block", ALL, ids=str)
def test_each_block_is_marked(block: Block) -> None:
    assert block.kind is not None, (
        f"{block}: mark it '<!-- recipe: name -->' (and run it from a test) or "
        "'<!-- sample: why -->' on the line before"
    )


@pytest.mark.parametrize("block", [b for b in ALL if b.kind == "recipe"], ids=str)
def test_each_recipe_is_run_by_a_test(block: Block) -> None:
    assert re.search(rf"recipe\(\s*[\"']{re.escape(block.name)}[\"']", TESTS), (
        f"{block}: no test calls recipe({block.name!r})"
    )


def test_recipe_names_are_unique() -> None:
    names = Counter(b.name for b in ALL if b.kind == "recipe")
    assert [name for name, n in names.items() if n > 1] == []
