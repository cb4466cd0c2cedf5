"""The re-certification pages and exports: who sees which campaign, which answer forms, and
what the evidence files hold."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from approvals.models import AccessRequest
from recertification.models import Campaign, Certification
from tests.factories import force_login_with_mfa
from tests.recertification.conftest import answer, start
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(grant, security) -> Campaign:
    return start(security, name="Q4 access review")


def _item(campaign: Campaign) -> Certification:
    return campaign.certifications.get()


def _page(client, campaign: Campaign) -> str:
    response = client.get(reverse("recertification:campaign_detail", args=[campaign.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_security_sees_the_start_form_and_the_security_part_to_answer(client, campaign, security2):
    force_login_with_mfa(client, security2)
    listing = client.get(reverse("recertification:campaigns")).content.decode()
    assert 'data-testid="campaign-start"' in listing
    assert "Q4 access review" in listing
    assert "0 of 1" in listing
    page = _page(client, campaign)
    assert 'data-testid="security-form"' in page
    assert 'data-testid="owner-form"' not in page  # security does not answer for the owner
    assert 'data-testid="exports"' in page
    assert "Re-certification" in listing  # the navigation entry


def test_the_owner_sees_their_part_only_and_no_exports(
    client, grant, engineer, security, make_user
):
    olga = make_user("olga")
    other_vendor = vendor_services.vendor_create(
        actor=olga, data=vendor_data(olga, name="Nimbus Logs", slug="nimbus-logs")
    )
    theirs = AccessRequest.objects.create(
        vendor=other_vendor, requester=olga, strategy="role_per_account", status="active"
    )
    campaign = start(security, name="Q4 access review")
    client.force_login(engineer)
    listing = client.get(reverse("recertification:campaigns")).content.decode()
    assert "Q4 access review" in listing
    assert "0 of 1" in listing  # their own grant only, not Nimbus Logs' too
    assert f"#{theirs.pk}<" not in _page(client, campaign)
    assert f"#{grant.pk}<" in _page(client, campaign)
    assert 'data-testid="campaign-start"' not in listing
    page = _page(client, campaign)
    assert 'data-testid="owner-form"' in page
    assert 'data-testid="security-form"' not in page
    assert 'data-testid="exports"' not in page
    csv_url = reverse("recertification:campaign_csv", args=[campaign.pk])
    assert client.get(csv_url).status_code == 403


def test_the_owner_answers_on_the_page_and_the_form_goes(client, campaign, engineer):
    client.force_login(engineer)
    url = reverse("recertification:owner_answer", args=[_item(campaign).pk])
    response = client.post(url, {"decision": "keep", "note": ""})
    assert response.status_code == 302
    assert _item(campaign).owner_decision == ""  # a note is needed
    client.post(url, {"decision": "keep", "note": "The scans still run nightly."})
    assert _item(campaign).owner_decision == "keep"
    page = _page(client, campaign)
    assert 'data-testid="owner-form"' not in page
    assert "The scans still run nightly." in page


def test_auditors_read_and_export_but_answer_nothing(client, campaign, auditor):
    client.force_login(auditor)
    page = _page(client, campaign)
    assert 'data-testid="exports"' in page
    assert 'data-testid="security-form"' not in page
    assert 'data-testid="owner-form"' not in page
    url = reverse("recertification:security_answer", args=[_item(campaign).pk])
    assert client.post(url, {"decision": "keep", "note": "x"}).status_code == 403


def test_another_requester_sees_no_campaign(client, campaign, make_user):
    client.force_login(make_user("olga"))
    listing = client.get(reverse("recertification:campaigns")).content.decode()
    assert "Q4 access review" not in listing
    url = reverse("recertification:campaign_detail", args=[campaign.pk])
    assert client.get(url).status_code == 403
    answer_url = reverse("recertification:owner_answer", args=[_item(campaign).pk])
    assert client.post(answer_url, {"decision": "revoke", "note": "x"}).status_code == 403
    assert _item(campaign).owner_decision == ""


def test_security_starts_a_campaign_from_the_page(client, grant, security):
    force_login_with_mfa(client, security)
    url = reverse("recertification:campaign_start")
    today = timezone.localdate()
    refused = client.post(url, {"name": "Too soon", "deadline": today.isoformat()})
    assert refused.status_code == 400
    assert "tomorrow at the earliest" in refused.content.decode()
    deadline = (today + timedelta(days=10)).isoformat()
    response = client.post(url, {"name": "Year end", "deadline": deadline, "vendor": ""})
    campaign = Campaign.objects.get()
    assert response["Location"] == reverse("recertification:campaign_detail", args=[campaign.pk])
    assert list(campaign.certifications.values_list("access_request_id", flat=True)) == [grant.pk]


def _decided(campaign: Campaign, engineer, security2) -> Certification:
    item = _item(campaign)
    answer(item, engineer, "owner", "keep", '=HYPERLINK("http://evil.example")')
    answer(item, security2, "security", "keep", "Least privilege, checked.")
    return item


def test_the_csv_export_holds_each_grant_with_both_answers(
    client, campaign, grant, engineer, security2, auditor
):
    _decided(campaign, engineer, security2)
    client.force_login(auditor)
    response = client.get(reverse("recertification:campaign_csv", args=[campaign.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    header, table = response.content.decode().split("\r\n\r\n", 1)
    assert "Q4 access review" in header
    assert "1 of 1" in header
    assert "verify_audit_log" in header
    rows = list(csv.DictReader(io.StringIO(table)))
    assert len(rows) == 1
    [row] = rows
    assert row["Request"] == f"#{grant.pk}"
    assert row["Vendor"] == "Orbit CI"
    assert (row["Owner"], row["Owner decision"]) == (engineer.username, "Keep")
    # A note that a spreadsheet would run as a formula is text.
    assert row["Owner note"] == '\'=HYPERLINK("http://evil.example")'
    assert (row["Security member"], row["Security note"]) == (
        security2.username,
        "Least privilege, checked.",
    )
    assert (row["Outcome"], row["Closed by"]) == ("Kept", "Both parts answered")


def test_the_pdf_export_holds_the_same_rows(client, campaign, grant, engineer, security2):
    _decided(campaign, engineer, security2)
    force_login_with_mfa(client, security2)
    response = client.get(reverse("recertification:campaign_pdf", args=[campaign.pk]))
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    text = " ".join(
        " ".join(page.extract_text().split())
        for page in PdfReader(io.BytesIO(response.content)).pages
    )
    assert "Q4 access review" in text
    assert f"#{grant.pk}" in text
    assert "Least privilege, checked." in text
    assert security2.username in text
    assert "Kept" in text
    assert "verify_audit_log" in text


def test_no_answer_form_after_the_deadline(client, campaign, engineer):
    client.force_login(engineer)
    assert 'data-testid="owner-form"' in _page(client, campaign)
    Campaign.objects.filter(pk=campaign.pk).update(
        deadline=timezone.localdate() - timedelta(days=1)
    )
    assert 'data-testid="owner-form"' not in _page(client, campaign)
