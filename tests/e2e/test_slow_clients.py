"""A client that stops reading, against real servers (``python -m notifications.serve``,
daphne's own command line, uvicorn's).

daphne never makes the application wait for a slow client, and uvicorn's ``send`` waits
while everything published meanwhile waits in the stream: without a bound, all of it piles
up in the server process. The server must close such a stream once
``SLOW_CLIENT_BUFFER_BYTES`` wait unsent, counted in bytes however large each notification
is, give the memory back, and the client must lose nothing when it resumes with
``Last-Event-ID``. A client that reads slowly but keeps up stays connected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from project.settings import channel_layers
from tests.e2e.conftest import DAPHNE, SERVE, UVICORN, Server
from tests.e2e.raw_stream import RawStream

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LINE = "A line of an order's details, long enough to matter. "
BODY = LINE * 38  # About 2 KB.
CLOSED = "Closed a stream whose client stopped reading"
METRICS_TOKEN = "slow-clients-metrics-token"
# The stalled client's own kernel takes little of what the server sends (the server's kernel
# still takes a megabyte or two before anything waits in the process).
RECEIVE_BUFFER = 4096
# Resident size may stay this much above where it was before the stall (the stream's limit
# is 1 MiB; without a bound, the process keeps all it was sent).
RSS_MARGIN_KB = 2048
# Larger than the kernel's socket buffers take: most of it has to wait in the process.
LARGE_BODY = "x" * 10_000_000


@pytest.fixture(autouse=True)
def _large_bodies(settings: Any) -> None:
    """Let this process store notifications far larger than a site's limits allow: stored
    before the limits, or under a site's own, they are what a slow client must not cost."""
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "MAX_BODY_LENGTH": 10_000_000}


def settled_rss_kb(server: Server, *, below: int, seconds: float = 10) -> int:
    """The server's resident size once it is below ``below`` KiB, or after ``seconds``: it
    hands memory back on the next turn of its event loop after closing a stream."""
    deadline = time.monotonic() + seconds
    while (rss := rss_kb(server_pid(server))) >= below and time.monotonic() < deadline:
        time.sleep(0.1)
    return rss


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def server_pid(server: Server) -> int:
    assert server.process is not None
    return server.process.pid


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


def stall(server: Server, user: Any) -> RawStream:
    """Open a stream, read up to its ``connected`` event, and stop reading."""
    stream = RawStream(server, bearer(user), receive_buffer=RECEIVE_BUFFER)
    stream.read_until(lambda: any(e.event == "connected" for e in stream.events))
    assert stream.status == 200
    return stream


def publish_until_closed(server: Server, user: Any, *, body: str, at_most: int) -> int:
    """Publish notifications until the server says it closed the stalled stream."""
    for sent in range(1, at_most + 1):
        services.notify(user, kind="info", title=f"n{sent}", body=body)
        if sent % 10 == 0 and CLOSED in server.output():
            return sent
    raise AssertionError(f"the stalled stream was still open after {at_most} notifications")


def last_event_id(stream: RawStream, *, started_at: int) -> str:
    """What a browser would send on reconnecting: the id of the last event it dispatched, or
    the position the stream started from if none had one."""
    return ([str(started_at)] + [e.id for e in stream.events if e.id is not None])[-1]


def resume(server: Server, user: Any, last_event_id: str, sent: int) -> list[int]:
    """Reconnect with ``Last-Event-ID`` and return the ids of the notifications replayed."""
    stream = RawStream(server, {**bearer(user), "Last-Event-ID": last_event_id})
    try:
        stream.read_until(lambda: stream.notification_ids()[-1:] == [sent])
        assert not any(e.event == "resync" for e in stream.events)
        return stream.notification_ids()
    finally:
        stream.close()


@dataclass
class Outcome:
    sent: int
    rss_before_kb: int
    rss_after_kb: int


def stall_and_resume(server: Server, user: Any, *, body: str, at_most: int) -> Outcome:
    """Stall a client, publish until its stream is closed, then resume it: nothing lost."""
    with override_settings(
        CHANNEL_LAYERS=channel_layers(server.env["REDIS_URL"], server.env["CHANNELS_PREFIX"])
    ):
        # One notification through a stream that reads, so that what is measured after is
        # what the stalled stream cost, not the first use of the code.
        warm = stall(server, user)
        services.notify(user, kind="info", title="warm-up", body=body)
        warm.read_until(lambda: warm.notification_ids() == [1])
        warm.close()
        stalled = stall(server, user)
        before = rss_kb(server_pid(server))
        sent = 1 + publish_until_closed(server, user, body=body, at_most=at_most)
    # The client drains what reached it, then sees the connection end.
    stalled.read_to_end()
    assert stalled.ended in ("eof", "reset")
    stalled.close()
    after = settled_rss_kb(server, below=before + RSS_MARGIN_KB)
    received = stalled.notification_ids()
    assert received == list(range(2, 2 + len(received)))
    replayed = resume(server, user, last_event_id(stalled, started_at=1), sent)
    assert [1, *received, *replayed] == list(range(1, sent + 1))  # Each once, in order.
    log = server.output()
    assert log.count(CLOSED) == 1
    assert "token" not in log[log.index(CLOSED) :].splitlines()[0]
    return Outcome(sent, before, after)


@pytest.mark.parametrize(
    "command", [SERVE, DAPHNE, UVICORN], ids=["notifications.serve", "daphne", "uvicorn"]
)
def test_a_stalled_stream_is_closed_and_resumes_losing_nothing(
    start_server: Callable[..., Server], user: Any, command: list[str]
) -> None:
    # Large notifications and a small limit: a few dozen fill the buffers, and the replay
    # on resuming (megabytes, sent in one go) must not close a client that reads.
    server = start_server(
        command, NOTIFICATIONS_SLOW_CLIENT_BUFFER_BYTES="65536", METRICS_TOKEN=METRICS_TOKEN
    )
    outcome = stall_and_resume(server, user, body=LINE * 600, at_most=150)
    assert outcome.rss_after_kb < outcome.rss_before_kb + RSS_MARGIN_KB
    scrape = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert "notifications_slow_clients_closed_total 1.0" in scrape.text.splitlines()


def test_the_default_bound_keeps_memory_bounded_and_gives_it_back(
    start_server: Callable[..., Server], user: Any
) -> None:
    # The default limit and 2 KB notifications; a replay window deep enough to resume.
    server = start_server(DJANGO_SETTINGS_MODULE="tests.e2e.deep_replay_settings")
    outcome = stall_and_resume(server, user, body=BODY, at_most=5000)
    # More than the limit went out before the stream was closed ...
    assert outcome.sent * len(BODY) > 1_048_576
    # ... and what the stalled stream held is gone from the process once it is closed.
    assert outcome.rss_after_kb < outcome.rss_before_kb + RSS_MARGIN_KB


def wait_for_close(server: Server, *, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while CLOSED not in server.output():
        assert time.monotonic() < deadline, "the stalled stream was not closed"
        time.sleep(0.1)


@pytest.mark.parametrize("command", [SERVE, UVICORN], ids=["notifications.serve", "uvicorn"])
def test_one_large_notification_to_a_stalled_client_closes_its_stream(
    start_server: Callable[..., Server], user: Any, command: list[str]
) -> None:
    # Most of it has to wait in the process, where the default limit counts it, however few
    # frames that is.
    server = start_server(command, METRICS_TOKEN=METRICS_TOKEN)
    with override_settings(
        CHANNEL_LAYERS=channel_layers(server.env["REDIS_URL"], server.env["CHANNELS_PREFIX"])
    ):
        # One through a client that reads first: what is measured after is what the
        # stalled stream cost, not the first use of the code and buffers.
        warm = RawStream(server, bearer(user))
        warm.read_until(lambda: any(e.event == "connected" for e in warm.events))
        services.notify(user, kind="info", title="warm-up", body=LARGE_BODY)
        received = 0
        while received < len(LARGE_BODY):  # Its bytes, unparsed: parsing takes long.
            received += len(warm.sock.recv(1 << 20))
        warm.close()
        stalled = stall(server, user)
        before = rss_kb(server_pid(server))
        services.notify(user, kind="info", title="large", body=LARGE_BODY)
        wait_for_close(server)
    stalled.close()
    after = settled_rss_kb(server, below=before + RSS_MARGIN_KB)
    assert after < before + RSS_MARGIN_KB
    scrape = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert "notifications_slow_clients_closed_total 1.0" in scrape.text.splitlines()


@pytest.mark.parametrize("command", [SERVE, UVICORN], ids=["notifications.serve", "uvicorn"])
def test_a_client_that_reads_slowly_but_keeps_up_is_not_closed(
    start_server: Callable[..., Server], user: Any, command: list[str]
) -> None:
    # Far more than the limit in all, never more than half of it published and not read.
    count, body, ahead = 24, "y" * 100_000, 5
    server = start_server(command)
    with override_settings(
        CHANNEL_LAYERS=channel_layers(server.env["REDIS_URL"], server.env["CHANNELS_PREFIX"])
    ):
        stream = RawStream(server, bearer(user), receive_buffer=RECEIVE_BUFFER)
        stream.read_until(lambda: any(e.event == "connected" for e in stream.events))
        for n in range(1, count + 1):
            services.notify(user, kind="info", title=f"n{n}", body=body)
            # A few kilobytes at a time, with a pause after each read.
            stream.read_until(lambda n=n: len(stream.notification_ids()) >= n - ahead, pause=0.002)
        stream.read_until(lambda: len(stream.notification_ids()) == count, pause=0.002)
    assert stream.ended is None
    stream.close()
    assert stream.notification_ids() == list(range(1, count + 1))
    assert CLOSED not in server.output()
