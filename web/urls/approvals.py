"""Routes of the workflow: each view module lists its own patterns."""

from fulfilment import webhooks
from web.views import accounts, grant_checks, keys, pullrequests, requests, rules

app_name = "approvals"

urlpatterns = [
    *accounts.urlpatterns,
    *requests.urlpatterns,
    *grant_checks.urlpatterns,
    *pullrequests.urlpatterns,
    *keys.urlpatterns,
    *rules.urlpatterns,
    *webhooks.urlpatterns,
]
