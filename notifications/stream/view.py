"""``GET /api/events/`` as a Django async view, for Django's handler.

It serves the stream under ``STREAM_MIDDLEWARE``, on a site that includes only
``notifications.urls``, and every request the ASGI front hands over (any method but
``GET``). The open itself is :func:`notifications.stream.opens.open_stream`'s, as on the front.
"""

from __future__ import annotations

from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from notifications.stream.handler import on_close
from notifications.stream.opens import STREAM_HEADERS, open_stream


# It changes nothing, whatever the method: a site's CSRF check must not stand before its 405.
@csrf_exempt
async def events(request: HttpRequest) -> HttpResponseBase:
    """``GET /api/events/``: the user's notifications as Server-Sent Events."""
    answer = await open_stream(request)
    if isinstance(answer, HttpResponseBase):
        return answer
    # Whatever becomes of the response, even if it is never sent, the slot is given back.
    on_close(request, answer.stream.close)
    return StreamingHttpResponse(answer.chunks(), headers=STREAM_HEADERS)
