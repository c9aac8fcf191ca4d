"""Follow one user's notifications with httpx and httpx-sse, reconnecting on its own.

    async for event in follow("https://shop.example.com", access_token):
        print(event.event, event.id, event.json())

It resumes from the last event id it saw (``connected`` carries one too, so a stream that
drops before any notification still resumes exactly), waits ``Retry-After`` on a 429, and
backs off exponentially after network errors. A 401 ends it: get a new access token (e.g.
from ``POST /api/token/refresh/``) and call it again with ``last_event_id=``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse


async def follow(
    base_url: str, access_token: str, *, last_event_id: str | None = None
) -> AsyncIterator[ServerSentEvent]:
    """Yield the stream's events for ever, across reconnections."""
    failures = 0
    timeout = httpx.Timeout(10, read=90)  # reads: well above the 30 s heartbeat
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
        while True:
            headers = {"Authorization": f"Bearer {access_token}"}
            if last_event_id is not None:
                headers["Last-Event-ID"] = last_event_id
            delay = min(30.0, 2.0**failures)
            try:
                async with aconnect_sse(http, "GET", "/api/events/", headers=headers) as source:
                    response = source.response
                    if response.status_code == 429:
                        delay = float(response.headers.get("Retry-After", 5))
                    else:
                        response.raise_for_status()  # 401: the token is no longer good
                        async for event in source.aiter_sse():
                            if not event.data:
                                continue  # a heartbeat, which httpx-sse hands on as an event
                            if event.event == "connected":
                                failures = 0
                            if event.id:
                                last_event_id = event.id
                            yield event
            except httpx.TransportError:
                failures += 1
            await asyncio.sleep(delay * random.uniform(1, 1.5))  # jitter: spread a surge
