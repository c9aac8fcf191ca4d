"""The operator's endpoints: ``GET /healthz`` for load balancers, ``GET /metrics`` for Prometheus.

Both answer a process reached directly, over plain HTTP (the project exempts them from its
redirect to https), and neither touches a session.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connection, connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from notifications import metrics as figures
from notifications.conf import conf
from notifications.delivery.outages import unreachable
from notifications.errors import error
from notifications.stream.groups import Groups

logger = logging.getLogger(__name__)

# A check slower than this counts as down: a load balancer must get its answer in time.
CHECK_TIMEOUT = 3.0
HEALTH_GROUP = "notifications.healthz"


async def healthz(request: HttpRequest) -> HttpResponse:
    """``GET /healthz``: 200 while the database answers, 503 when it does not.

    The channel layer is reported but does not make the process unhealthy: without it,
    streams read the database and lose nothing.
    """
    if request.method not in ("GET", "HEAD"):
        return error(405, f'Method "{request.method}" not allowed.', Allow="GET, HEAD")
    database, channel_layer = await asyncio.gather(database_state(), channel_layer_state())
    body = {
        "status": "ok" if database == "ok" else "unhealthy",
        "database": database,
        "channel_layer": channel_layer,
    }
    response = JsonResponse(body, status=200 if database == "ok" else 503)
    response["Cache-Control"] = "no-store"
    return response


async def database_state() -> str:
    """Return "ok" if a query answers within ``CHECK_TIMEOUT``, else "down"."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await asyncio.to_thread(_query_database)
    except Exception as e:
        logger.warning("Health check: the database is down (%r).", e)
        return "down"
    return "ok"


def _query_database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connections.close_all()


async def channel_layer_state() -> str:
    """Return "in-memory", or whether a publish through each Redis server of the channel
    layer succeeds."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return "in-memory"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            # Groups nobody joins, one on each Redis server of the layer: the message goes
            # through every server and on to no one.
            for group in Groups(layer).one_group_each(HEALTH_GROUP):
                await layer.group_send(group, {"type": "healthz", "id": uuid.uuid4().hex})
    except Exception as e:
        # A Redis that is away is the hub's to report, once: a load balancer's checks
        # every few seconds would repeat it. The answer says "down" all the same.
        log = logger.debug if unreachable(e) else logger.warning
        log("Health check: the channel layer is down (%r).", e)
        return "down"
    return "ok"


def metrics(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: the figures in Prometheus's text format, for the bearer of
    ``NOTIFICATIONS["METRICS_TOKEN"]``; 404 while no token is set."""
    token = conf.METRICS_TOKEN
    if not token:
        return error(404, "Not found.")
    if request.method not in ("GET", "HEAD"):
        return error(405, f'Method "{request.method}" not allowed.', Allow="GET, HEAD")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return error(
            401,
            "A valid metrics bearer token is required.",
            WWW_Authenticate='Bearer realm="metrics"',
        )
    if not figures.available():
        return error(
            404,
            "Metrics are unavailable: prometheus-client is not installed "
            "(pip install 'django-live-notifications[metrics]').",
        )
    body, content_type = figures.exposition()
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
