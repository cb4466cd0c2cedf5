from django.urls import path

from web.views import reports as views

app_name = "reports"

urlpatterns = [
    path("reports/", views.reports_index, name="index"),
    path("reports/subprocessors/", views.subprocessor_export, name="subprocessors"),
    path("reports/exports/<uuid:export_id>/", views.export_status, name="export_status"),
    path("reports/exports/<uuid:export_id>/again/", views.export_again, name="export_again"),
    path(
        "reports/exports/<uuid:export_id>/download/",
        views.export_download,
        name="export_download",
    ),
    path("reports/audit-trail/", views.audit_trail_export, name="audit_trail"),
    path("access-map/", views.access_map_view, name="access_map"),
    path("audit-log/", views.audit_log, name="audit_log"),
]
