"""The React hook (notifications/static/notifications/react.js) in Chromium, bundled with
esbuild and react from tests/clients/node_modules, the way an app's bundler would.

The example of docs/CLIENTS.md runs from the Markdown itself on the site's own origin with
the session: a server restart before any notification, one stored while it is down, then
more live and a read; after each step the page shows every notification once and the unread
count the API answers. Archived and snoozed notifications leave the list and come back in
their place, with the count each event carries. A page on another origin passes baseUrl and
an inline getToken, and re-renders never reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.models import Notification
from tests.browser.conftest import expect
from tests.browser.pages import log_in_to, serve
from tests.e2e.conftest import ROOT, Server
from tests.recipes import recipe

pytestmark = pytest.mark.django_db(transaction=True)

NODE_MODULES = ROOT / "tests" / "clients" / "node_modules"
ESBUILD = NODE_MODULES / ".bin" / "esbuild"
STATIC = ROOT / "notifications" / "static" / "notifications"

PAGE = """<!doctype html><meta charset=utf-8><title>Notifications</title>
<div id="notifications"></div>
<script src="/app.js"></script>"""

mark_read = sync_to_async(services.mark_read)


def bundle(directory: Path, source: str) -> str:
    """Bundle ``source`` (JSX) as the docs say to: react.js and client.js copied beside it
    under ``notifications/``, react from npm."""
    if not ESBUILD.exists():
        pytest.skip(f"esbuild is not installed in {NODE_MODULES}: npm ci --prefix tests/clients")
    shutil.copytree(STATIC, directory / "notifications")
    (directory / "app.jsx").write_text(source)
    built = subprocess.run(
        [ESBUILD, "app.jsx", "--bundle", "--jsx=automatic", "--log-level=warning"],
        cwd=directory,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return built.stdout


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def another_site(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a loopback port and yield its origin, another than the API's.

    A real server, not playwright's routing: Chromium lets a page call a loopback address
    only from a page that came from one (Local Network Access), and a routed page has none.
    """
    handler = partial(_QuietHandler, directory=str(directory))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as site:
        thread = threading.Thread(target=site.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://localhost:{site.server_address[1]}"
        finally:
            site.shutdown()
            thread.join()


def watch_errors(context: Any) -> list[str]:
    """Collect the uncaught exceptions of the pages of ``context``."""
    errors: list[str] = []
    context.on("weberror", lambda web_error: errors.append(str(web_error.error)))
    return errors


async def shows(page: Any, titles: list[str], unread: int) -> None:
    """The list (newest first, each once), and the unread count that the API answers."""
    section = page.locator("#notifications")
    await expect(section.locator("li")).to_have_text(titles)
    await expect(section.locator(".unread-count")).to_have_text(str(unread))
    answer = await page.evaluate("fetch('/api/notifications/unread-count/').then((r) => r.json())")
    assert answer["unread_count"] == unread


async def open_example(context: Any, server: Server, user: Any, tmp_path: Path) -> Any:
    """Serve the docs' React example on the server's origin; log in and open it."""
    await serve(context, f"{server.url}/app/", PAGE)
    script = bundle(tmp_path, recipe("clients-react"))
    await serve(context, f"{server.url}/app.js", script, "text/javascript")
    return await log_in_to(context, server, user.username, "/app/")


async def test_the_react_example_loses_nothing_and_counts_as_the_api_does(
    server: Server, user: Any, new_context: Any, publish_to: Any, tmp_path: Path
) -> None:
    notify = publish_to(server)
    (earlier,) = await notify(user, kind="info", title="Earlier, unread")
    (read,) = await notify(user, kind="info", title="Earlier, read")
    await mark_read(notifications=Notification.objects.filter(pk=read.pk))
    context = await new_context()
    errors = watch_errors(context)
    page = await open_example(context, server, user, tmp_path)
    root = page.locator("#notifications")
    status = root.locator(".status")

    await expect(status).to_have_text("live")
    await shows(page, [], 1)

    await asyncio.to_thread(server.stop)
    await expect(status).not_to_have_text("live")
    await notify(user, kind="info", title="While the server was down")
    await asyncio.to_thread(server.start)  # the same port
    # Replayed after `connected`, whose count already includes it: counted once.
    await expect(status).to_have_text("live", timeout=45_000)
    await shows(page, ["While the server was down"], 2)

    # A second tab shares the first one's stream (client.js's Web Lock): it shows what
    # arrives from now on, and the same count.
    tab = await context.new_page()
    await tab.goto(f"{server.url}/app/")
    await expect(tab.locator("#notifications .status")).to_have_text("live")
    await shows(tab, [], 2)

    for n in (1, 2, 3):
        await notify(user, kind="info", title=f"Live {n}")
    live = ["Live 3", "Live 2", "Live 1"]
    await shows(page, [*live, "While the server was down"], 5)
    await shows(tab, live, 5)

    await mark_read(notifications=Notification.objects.filter(title__startswith="Live "))
    for each in (page, tab):
        await expect(each.locator("#notifications li.read")).to_have_text(live)
    await shows(page, [*live, "While the server was down"], 2)
    await shows(tab, live, 2)
    await expect(root.locator("li.unread")).to_have_text(["While the server was down"])
    assert earlier.title not in await root.inner_text(), "a notification from before showed"
    assert errors == []


async def test_archive_and_snooze_leave_the_list_come_back_and_keep_the_count(
    server: Server, user: Any, new_context: Any, publish_to: Any, tmp_path: Path
) -> None:
    notify = publish_to(server)
    context = await new_context()
    errors = watch_errors(context)
    page = await open_example(context, server, user, tmp_path)
    await expect(page.locator("#notifications .status")).to_have_text("live")
    for n in (1, 2, 3):
        await notify(user, kind="info", title=f"Live {n}")
    await shows(page, ["Live 3", "Live 2", "Live 1"], 3)

    async def change(service: Any, *titles: str, **options: Any) -> None:
        chosen = Notification.objects.filter(title__in=titles)
        await sync_to_async(service)(notifications=chosen, **options)

    # Each event's count is taken as given, and the list follows: out, and back in its place.
    await change(services.archive, "Live 2")
    await shows(page, ["Live 3", "Live 1"], 2)
    await change(services.snooze, "Live 3", until=timezone.now() + timedelta(hours=1))
    await shows(page, ["Live 1"], 1)
    await change(services.unsnooze, "Live 3")  # back unread
    await shows(page, ["Live 3", "Live 1"], 2)
    await change(services.unarchive, "Live 2")  # archiving marked it read
    await shows(page, ["Live 3", "Live 2", "Live 1"], 2)
    await expect(page.locator("#notifications li.read")).to_have_text(["Live 2"])
    await change(services.archive, "Live 1", "Live 3")
    await shows(page, ["Live 2"], 0)
    assert errors == []


# Another origin: the options come from the page, and getToken is a new inline function (or
# the token itself) at every render, which each event causes.
OTHER_ORIGIN_APP = """
import { createRoot } from "react-dom/client";
import { useNotifications } from "./notifications/react.js";

const { baseUrl, token, inline } = window.options;

function Notifications() {
  const { status, notifications, unreadCount } = useNotifications({
    baseUrl,
    getToken: inline ? () => token : token,
    name: "notifications:other-origin",
  });
  return (
    <section>
      <span className="status">{status}</span>
      <span className="unread-count">{unreadCount ?? ""}</span>
      <ul>{notifications.map((n) => <li key={n.id}>{n.title}</li>)}</ul>
    </section>
  );
}

createRoot(document.getElementById("notifications")).render(<Notifications />);
"""


@pytest.mark.parametrize("inline", [True, False], ids=["inline function", "token string"])
async def test_the_hook_from_another_origin_with_a_token_connects_once(
    start_server: Any, user: Any, new_context: Any, publish_to: Any, tmp_path: Path, inline: bool
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    site = tmp_path / "site"
    (site / "app").mkdir(parents=True)
    (site / "app" / "index.html").write_text(PAGE)
    (site / "app.js").write_text(bundle(sources, OTHER_ORIGIN_APP))
    with another_site(site) as origin:
        server = start_server(CORS_ALLOWED_ORIGINS=origin)
        notify = publish_to(server)
        await notify(user, kind="info", title="Earlier")
        options = {
            "baseUrl": server.url,
            "token": str(AccessToken.for_user(user)),
            "inline": inline,
        }
        context = await new_context()
        errors = watch_errors(context)
        await context.add_init_script(f"window.options = {json.dumps(options)};")
        page = await context.new_page()
        opened: list[str] = []  # the paths of requests, preflights left out

        def record(request: Any) -> None:
            if request.method != "OPTIONS":
                opened.append(urlsplit(request.url).path)

        page.on("request", record)
        await page.goto(f"{origin}/app/")
        root = page.locator("#notifications")

        await expect(root.locator(".status")).to_have_text("live")
        await expect(root.locator(".unread-count")).to_have_text("1")
        for n in (1, 2, 3):
            await notify(user, kind="info", title=f"Live {n}")
        await expect(root.locator("li")).to_have_text(["Live 3", "Live 2", "Live 1"])
        await expect(root.locator(".unread-count")).to_have_text("4")

    # Each event re-rendered the component with a new getToken: one stream, one ticket.
    assert opened.count("/api/events/") == 1
    assert opened.count("/api/events/ticket/") == 1
    assert errors == []
