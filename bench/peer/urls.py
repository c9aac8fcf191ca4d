"""The peer's one endpoint, routed as django-eventstream's documentation shows."""

from __future__ import annotations

import django_eventstream
from django.urls import include, path

urlpatterns = [path("events/", include(django_eventstream.urls))]
