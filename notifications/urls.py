from django.urls import path

from notifications import api, views

app_name = "notifications"

urlpatterns = [
    path("api/events/", views.events, name="events"),
    path("api/events/ticket/", api.StreamTicketView.as_view(), name="events-ticket"),
]
