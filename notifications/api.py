"""The HTTP API (DRF). The stream itself is a plain async view in ``views.py``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.conf import conf
from notifications.tickets import StreamTicket


class StreamTicketView(APIView):
    """Mint a short-lived token that opens the stream (``?token=``) and nothing else."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "StreamTicket",
            {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()},
        ),
    )
    def post(self, request: Request) -> Response:
        ticket = StreamTicket.for_user(request.user)
        return Response({"ticket": str(ticket), "expires_in": conf.TICKET_LIFETIME_SECONDS})
