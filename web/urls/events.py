from django.urls import path

from web.views import events as views

app_name = "events"

urlpatterns = [
    path("events/", views.endpoint_list, name="list"),
    path("events/new/", views.endpoint_create, name="create"),
    path("events/<int:pk>/", views.endpoint_detail, name="detail"),
    path("events/<int:pk>/active/", views.endpoint_active, name="active"),
    path("events/<int:pk>/rotate/", views.endpoint_rotate, name="rotate"),
    path("events/<int:pk>/delete/", views.endpoint_delete, name="delete"),
    path("events/deliveries/<int:pk>/redeliver/", views.delivery_redeliver, name="redeliver"),
]
