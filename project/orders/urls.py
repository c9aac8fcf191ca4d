from __future__ import annotations

from django.urls import path

from project.orders import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("<int:number>/", views.order_detail, name="detail"),
]
