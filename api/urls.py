"""/api/v1/: the REST API, its OpenAPI document and its browsable docs (README "REST API")."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from api import views
from api.docs import DocsAccess

router = SimpleRouter()
router.register("tokens", views.TokenViewSet, basename="token")
router.register("vendors", views.VendorViewSet, basename="vendor")
router.register("reviews", views.ReviewViewSet, basename="review")
router.register("requests", views.AccessRequestViewSet, basename="request")
router.register("approvals", views.ApprovalViewSet, basename="approval")
router.register("pull-requests", views.PullRequestViewSet, basename="pullrequest")
router.register("keys", views.AccessKeyViewSet, basename="key")
router.register("accounts", views.AwsAccountViewSet, basename="account")
router.register("findings", views.FindingViewSet, basename="finding")
router.register("exports", views.ExportViewSet, basename="export")
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")

app_name = "api"
urlpatterns = [
    path("v1/me/", views.MeView.as_view(), name="me"),
    path("v1/", include(router.urls)),
    re_path(r"^v1/", views.NoRouteView.as_view(), name="no-route"),  # last: what none matched
    path("schema/", SpectacularAPIView.as_view(**DocsAccess.options), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", **DocsAccess.options),
        name="docs",
    ),
]
