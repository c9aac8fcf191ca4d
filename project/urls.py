from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from notifications.api.schema_views import SchemaView, SwaggerView
from project import logins, passwords, views

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("admin/", admin.site.urls),
    # The words of the pages' scripts (djangojs): the app's catalog and LOCALE_PATHS'.
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["notifications"]), name="jsi18n"),
    # Before Django's own: the same page, throttled per address and per client.
    path(
        "accounts/password_reset/",
        passwords.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("orders/", include("project.orders.urls")),
    # Before the app's own: the same endpoint, refusing locked-out log-ins with a 429.
    path("api/token/", logins.TokenObtainView.as_view()),
    path("", include("notifications.urls")),
]

handler400 = "project.views.bad_request"
handler403 = "project.views.permission_denied"
handler404 = "project.views.not_found"
