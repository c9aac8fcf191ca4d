from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from notifications.api import monitoring, preferences, push, unsubscribe
from notifications.api import views as api
from notifications.stream import view

app_name = "notifications"

router = SimpleRouter()
router.register("api/notifications", api.NotificationViewSet, basename="notification")

urlpatterns = [
    path("api/events/", view.events, name="events"),
    path("api/events/ticket/", api.StreamTicketView.as_view(), name="events-ticket"),
    path("api/token/", api.TokenObtainView.as_view(), name="token"),
    path("api/token/refresh/", api.TokenRefreshView.as_view(), name="token-refresh"),
    path("api/preferences/", preferences.PreferencesView.as_view(), name="preferences"),
    path("api/push/public-key/", push.PublicKeyView.as_view(), name="push-public-key"),
    path("api/push/subscriptions/", push.SubscriptionsView.as_view(), name="push-subscriptions"),
    path(
        "notifications/unsubscribe/<str:token>/",
        unsubscribe.unsubscribe,
        name="email-unsubscribe",
    ),
    *router.urls,
    path("healthz", monitoring.healthz, name="healthz"),
    path("metrics", monitoring.metrics, name="metrics"),
]
