"""The README is the newcomer's map: it must name every setting and command there is."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifications.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_app_setting_is_documented(key: str) -> None:
    assert f"`{key}`" in README


@pytest.mark.parametrize(
    "variable",
    [
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CORS_ALLOWED_ORIGINS",
        "NOTIFICATIONS_HEARTBEAT_SECONDS",
        "NOTIFICATIONS_MAX_CONNECTIONS_PER_USER",
        "CSRF_TRUSTED_ORIGINS",
        "NUM_PROXIES",
        "HTTPS",
        "METRICS_TOKEN",
        "PROMETHEUS_MULTIPROC_DIR",
        "STATIC_ROOT",
    ],
)
def test_every_environment_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in README
    assert variable in (ROOT / "project" / "settings.py").read_text()


def test_every_command_is_documented() -> None:
    commands = ROOT / "notifications" / "management" / "commands"
    names = [p.stem for p in commands.glob("*.py") if not p.stem.startswith("_")]
    assert names
    for name in names:
        assert f"manage.py {name}" in README


def test_the_two_commands_are_shown() -> None:
    assert "make run" in README and "make test" in README


def test_linked_documents_exist() -> None:
    links = ("docs/ARCHITECTURE.md", "docs/PERFORMANCE.md", "docs/BROWSER.md", "docs/DEPLOY.md")
    for link in links:
        assert link in README
        assert (ROOT / link).is_file(), f"{link} is linked but missing"
