"""The wheel's build compiles the app's message catalogs: ``.mo`` files are never committed.

Everything else about the package is in pyproject.toml. Compiling needs GNU gettext's
``msgfmt``, as Django's ``compilemessages`` does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogs(build_py):
    """Copy the package as usual, then compile each catalog copied next to it."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout: the Makefile compiles
            return
        for po in sorted(Path(self.build_lib, "notifications", "locale").glob("*/*/*.po")):
            subprocess.run(
                ["msgfmt", "--check-format", "-o", str(po.with_suffix(".mo")), str(po)],
                check=True,
            )


setup(cmdclass={"build_py": BuildPyWithCatalogs})
