"""Routes of the workflow: each view module lists its own patterns."""

from approvals import webhooks
from approvals.views import accounts, pullrequests, requests

app_name = "approvals"

urlpatterns = [
    *accounts.urlpatterns,
    *requests.urlpatterns,
    *pullrequests.urlpatterns,
    *webhooks.urlpatterns,
]
