"""URL configuration: every route of the portal is listed here or in an app's urls.py."""

from django.contrib import admin
from django.urls import include, path

from accessportal import views

admin.site.site_header = "Vendor access portal — security administration"
admin.site.site_title = "Vendor access portal"
admin.site.index_title = "Security administration"

urlpatterns = [
    path("", include("web.urls.portal")),
    path("healthz", views.healthz, name="healthz"),
    path("", include("web.urls.vendors")),
    path("", include("web.urls.approvals")),
    path("", include("web.urls.reports")),
    path("", include("web.urls.verification")),
    path("", include("web.urls.recertification")),
    path("", include("web.urls.tokens")),
    path("api/", include("api.urls")),
    path("", include("web.urls.events")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]

handler403 = "django.views.defaults.permission_denied"
