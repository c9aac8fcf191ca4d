"""The project's URLs, then the floor views (after them, so they resolve exactly as usual)."""

from __future__ import annotations

from django.urls import path

from bench.floor import bare, floor
from project.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *project_urlpatterns,
    path("bench/bare/", bare),
    path("bench/floor/", floor),
    path("bench/floor/<str:parts>/", floor),
    path("bench/site-floor/", floor),
]
