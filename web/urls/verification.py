from django.urls import path

from web.views import findings as views

app_name = "verification"

urlpatterns = [
    path("findings/", views.finding_list, name="findings"),
    path("findings/scan/", views.scan_now, name="scan"),
    path("findings/scan/status/", views.scan_status_view, name="scan_status"),
    path("findings/<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("findings/<int:pk>/adopt/", views.adopt, name="adopt"),
]
