"""The inventory page, "Sync now", the sync status poll and the live count endpoint."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accessportal.roles import Role
from inventory.models import AccountSyncRun, AwsAccount
from inventory.services import accounts_matching
from tests.factories import force_login_with_mfa

pytestmark = pytest.mark.django_db

LIST = reverse("approvals:accounts")
SYNC = reverse("approvals:accounts_sync")
STATUS = reverse("approvals:accounts_sync_status")
COUNT = reverse("approvals:accounts_count")


def account(account_id: int, **fields) -> AwsAccount:
    values = {
        "account_type": AwsAccount.Type.SERVICE,
        "status": AwsAccount.Status.ACTIVE,
        "last_seen_at": timezone.now(),
    }
    values.update(fields)
    return AwsAccount.objects.create(account_id=f"{account_id:012d}", **values)


@pytest.fixture
def inventory():
    """A small organization: services in two domains, specials, and inactive accounts."""
    made = {}
    n = 100
    for domain in ("payments", "web"):
        for environment, quality in (
            ("development", "alpha"),
            ("production", "alpha"),
            ("production", "beta"),
        ):
            n += 1
            name = f"{domain}-{environment}-{quality}"
            made[name] = account(
                n, name=name, domain=domain, environment=environment, quality=quality
            )
    made["management"] = account(1, name="master", account_type=AwsAccount.Type.MANAGEMENT)
    made["audit"] = account(2, name="audit", account_type=AwsAccount.Type.AUDIT)
    made["Substrate"] = account(
        3, name="Substrate", account_type=AwsAccount.Type.SUBSTRATE, domain="admin"
    )
    made["untagged"] = account(4, name="loose")
    made["closed"] = account(
        5,
        name="data-production-alpha",
        domain="data",
        environment="production",
        quality="alpha",
        status=AwsAccount.Status.CLOSED,
    )
    made["suspended"] = account(
        6,
        name="web-staging-alpha",
        domain="web",
        environment="staging",
        quality="alpha",
        status=AwsAccount.Status.SUSPENDED,
    )
    return made


@pytest.fixture
def security(client, make_user):
    force_login_with_mfa(client, make_user("sec", Role.SECURITY))
    return client


def _ids(response) -> list[str]:
    return [a.account_id for a in response.context["page"]]


# --- The list ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [(), (Role.AUDITORS,), (Role.SECURITY,)])
def test_every_signed_in_role_sees_the_inventory(client, make_user, inventory, role):
    client.force_login(make_user("viewer", *role))
    response = client.get(LIST)
    assert response.status_code == 200
    assert len(_ids(response)) == len(inventory)
    assert b"payments-production-beta" in response.content
    assert (b"Sync now" in response.content) == (role == (Role.SECURITY,))


def test_anonymous_users_are_sent_to_login(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"domain": "payments"},
            {"payments-development-alpha", "payments-production-alpha", "payments-production-beta"},
        ),
        (
            {"domain": "web", "environment": "production"},
            {"web-production-alpha", "web-production-beta"},
        ),
        ({"quality": "beta"}, {"payments-production-beta", "web-production-beta"}),
        ({"account_type": "audit"}, {"audit"}),
        ({"status": "closed"}, {"closed"}),
        ({"status": "suspended"}, {"suspended"}),
        ({"q": "loose"}, {"untagged"}),
        ({"q": "000000000002"}, {"audit"}),
        ({"q": "PAYMENTS-prod", "quality": "alpha"}, {"payments-production-alpha"}),
    ],
)
def test_filters_and_search(client, make_user, inventory, query, expected):
    client.force_login(make_user("viewer"))
    response = client.get(LIST, query)
    assert response.status_code == 200
    names = {k for k, v in inventory.items() if v.account_id in _ids(response)}
    assert names == expected


def test_filter_choices_come_from_the_inventory(client, make_user, inventory):
    client.force_login(make_user("viewer"))
    form = client.get(LIST).context["filters"]
    assert [v for v, _ in form.fields["domain"].choices] == ["", "admin", "data", "payments", "web"]
    assert [v for v, _ in form.fields["quality"].choices] == ["", "alpha", "beta"]
    # An unknown value is ignored rather than failing the page.
    response = client.get(LIST, {"domain": "nope"})
    assert response.status_code == 200
    assert len(_ids(response)) == len(inventory)


def test_query_count_does_not_grow_with_rows(client, make_user, django_assert_max_num_queries):
    client.force_login(make_user("viewer", Role.SECURITY))
    AccountSyncRun.objects.create(status=AccountSyncRun.Status.SUCCEEDED)
    for i in range(3):
        account(1000 + i, domain="web", environment="production", quality="alpha")
    client.get(LIST)  # warm the session and caches
    with CaptureQueriesContext(connection) as small:
        assert client.get(LIST).status_code == 200
    for i in range(120):
        account(2000 + i, domain=f"d{i % 7}", environment=f"e{i % 3}", quality=f"q{i % 2}")
    with django_assert_max_num_queries(len(small)):
        response = client.get(LIST)
    assert response.status_code == 200
    assert len(_ids(response)) == 50  # a page, not every row
    assert response.context["page"].paginator.count == 123


def test_page_shows_the_latest_run_and_its_mismatches(client, make_user):
    client.force_login(make_user("viewer", Role.AUDITORS))
    AccountSyncRun.objects.create(
        status=AccountSyncRun.Status.SUCCEEDED,
        seen=7,
        created=2,
        mismatches=[{"kind": "environment_unknown", "message": "environment 'qa' is used"}],
    )
    response = client.get(LIST)
    assert b"7 active seen" in response.content
    assert b"environment &#x27;qa&#x27; is used" in response.content


def test_page_shows_a_running_sync_and_the_previous_outcome(client, make_user):
    client.force_login(make_user("viewer"))
    AccountSyncRun.objects.create(status=AccountSyncRun.Status.FAILED, error="AccessDenied here")
    AccountSyncRun.objects.create()  # queued / running
    response = client.get(LIST)
    body = response.content.decode()
    assert 'data-status="running"' in body
    assert "A sync is queued or running" in body
    assert "AccessDenied here" in body
    # The poll is a static script, never inline (the CSP allows 'self' only).
    assert "js/run_status.js" in body
    assert "<script>" not in body


# --- Sync now ---------------------------------------------------------------------------------


def test_security_queues_a_sync_on_commit(security, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = security.post(SYNC)
    assert response.status_code == 302
    assert response["Location"] == LIST
    assert len(callbacks) == 1
    run = AccountSyncRun.objects.get()
    assert run.status == AccountSyncRun.Status.RUNNING
    assert run.triggered_by is not None
    assert run.triggered_by.username == "sec"
    page = security.get(LIST)
    assert b"Account sync queued." in page.content
    assert b"A sync is queued or running" in page.content


def test_a_second_click_while_running_queues_nothing(security, django_capture_on_commit_callbacks):
    security.post(SYNC)
    with django_capture_on_commit_callbacks() as callbacks:
        response = security.post(SYNC, follow=True)
    assert callbacks == []
    assert AccountSyncRun.objects.count() == 1
    assert b"already queued or running" in response.content


@pytest.mark.parametrize("role", [(), (Role.AUDITORS,), (Role.AUDITORS, Role.REQUESTERS)])
def test_others_may_not_sync(client, make_user, role, django_capture_on_commit_callbacks):
    client.force_login(make_user("someone", *role))
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(SYNC)
    assert response.status_code == 403
    assert callbacks == []
    assert not AccountSyncRun.objects.exists()


def test_sync_is_post_only(security):
    assert security.get(SYNC).status_code == 405


def test_status_endpoint_reports_the_latest_run(client, make_user):
    client.force_login(make_user("viewer", Role.AUDITORS))
    assert client.get(STATUS).json() == {"id": None, "status": None}
    run = AccountSyncRun.objects.create(
        status=AccountSyncRun.Status.SUCCEEDED, seen=3, mismatches=[{"kind": "x", "message": "m"}]
    )
    data = client.get(STATUS).json()
    assert data["id"] == run.pk
    assert data["status"] == "succeeded"
    assert data["seen"] == 3
    assert data["mismatches"] == 1


# --- The live count ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, 6),
        ({"domain": "all", "environment": "*"}, 6),
        ({"domain": "payments"}, 3),
        ({"domain": ["payments", "web"], "environment": "production"}, 4),
        ({"environment": "production", "quality": "beta"}, 2),
        ({"domain": "data"}, 0),  # closed: only active accounts count
        ({"environment": "staging"}, 0),  # suspended
        ({"include_special": "1"}, 9),  # + management, audit, Substrate
        ({"domain": "web", "quality": "alpha", "include_special": "true"}, 5),
    ],
)
def test_count_endpoint(client, make_user, inventory, query, expected):
    client.force_login(make_user("requester"))
    data = client.get(COUNT, query).json()
    assert data["count"] == expected
    assert len(data["accounts"]) == expected
    assert all(
        set(a) == {"id", "name", "domain", "environment", "quality"} for a in data["accounts"]
    )
    assert inventory["untagged"].account_id not in {a["id"] for a in data["accounts"]}


def test_count_endpoint_lists_at_most_twenty(client, make_user):
    for i in range(25):
        account(500 + i, name=f"web-{i}", domain="web", environment="production", quality="alpha")
    client.force_login(make_user("requester"))
    data = client.get(COUNT, {"domain": "web"}).json()
    assert data["count"] == 25
    assert len(data["accounts"]) == 20
    assert data["accounts"][0]["id"] == "000000000500"


def test_count_endpoint_needs_a_signed_in_user(client):
    assert client.get(COUNT).status_code == 302


def test_accounts_matching_selector(inventory):
    names = {a.name for a in accounts_matching(domains=["web"], environments=[], qualities=["*"])}
    assert names == {"web-development-alpha", "web-production-alpha", "web-production-beta"}
    everything = accounts_matching(domains=[], environments=[], qualities=[], include_special=True)
    assert {a.account_type for a in everything} == {"service", "management", "audit", "substrate"}
    assert inventory["untagged"] not in everything
    assert inventory["closed"] not in everything
