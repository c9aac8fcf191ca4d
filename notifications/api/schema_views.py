"""The OpenAPI schema and its Swagger UI, safe under concurrent first requests and odd methods.

drf-spectacular builds the schema anew for every request, and the build is not thread-safe:
ten concurrent first requests to a fresh process got eight 500s. Each server process builds
it once, under a lock, and keeps it. And its Swagger view renders every response with a
template, so an ``OPTIONS`` request (DRF's metadata, which has no template) was a 500: here,
anything but ``GET`` and ``HEAD`` is answered in JSON. The Swagger UI page loads its
start-up script from its own URL (``?script``) rather than inline, so it runs under a
Content-Security-Policy that allows no inline script.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

_lock = threading.Lock()
# (view class, API version, language) -> schema. Both come from the query string, so the
# number kept is bounded; past it, schemas are still built under the lock, just not kept.
MAX_SCHEMAS = 16
_schemas: dict[tuple[type, str | None, str | None], dict[str, Any]] = {}


@receiver(setting_changed)
def _forget_schemas(**kwargs: Any) -> None:
    """Build anew after a test changes settings, which the schema may depend on."""
    with _lock:
        _schemas.clear()


class JSONRefusals:
    """Render every refusal (401, 404, 405, 429...) as JSON, whatever format the view serves:
    the schema's YAML or the docs' HTML would not carry a ``detail`` a client can read."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class SchemaView(JSONRefusals, SpectacularAPIView):
    """``GET /api/schema/``: the OpenAPI 3 schema, built once per process."""

    def _get_schema_response(self, request: Request) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (type(self), version, translation.get_language())
        with _lock:
            schema = _schemas.get(key)
            if schema is None:
                generator = self.generator_class(
                    urlconf=self.urlconf, api_version=version, patterns=self.patterns
                )
                schema = generator.get_schema(request=request, public=self.serve_public)
                if len(_schemas) < MAX_SCHEMAS:
                    _schemas[key] = schema
        filename = self._get_filename(request, version)
        return Response(
            data=schema, headers={"Content-Disposition": f'inline; filename="{filename}"'}
        )


class SwaggerView(JSONRefusals, SpectacularSwaggerSplitView):
    """``GET /api/docs/``: the Swagger UI page, and with ``?script`` its start-up script;
    other methods get JSON, like the rest of /api/."""

    def get_renderers(self) -> list[BaseRenderer]:
        if self.request.method in ("GET", "HEAD"):
            return super().get_renderers()
        return [JSONRenderer()]
