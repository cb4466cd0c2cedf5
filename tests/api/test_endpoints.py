"""The API's other endpoints: reviews decided, extensions, binders, keys without secrets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from approvals import decisions
from approvals.models import AccessRequest
from reports.models import ReportExport
from reports.subprocessors import report_params
from tests.approvals.helpers import submitted
from tests.vendors.helpers import complete_review, vendor_data
from vendors import services as vendor_services
from vendors.models import SubprocessorReview

pytestmark = pytest.mark.django_db


def test_a_review_is_decided_by_an_independent_security_token(
    api, token_for, engineer, security, make_user
):
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    review = vendor_services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    vendor_services.review_submit(review_id=review.pk, actor=engineer)
    # Its author cannot decide it, whatever the token; an independent security member can.
    assert (
        api(token_for(engineer))
        .post(f"/api/v1/reviews/{review.pk}/decide/", {"decision": "approved"})
        .status_code
        == 403
    )
    bad = api(token_for(security, "approve")).post(
        f"/api/v1/reviews/{review.pk}/decide/", {"decision": "maybe"}
    )
    assert (bad.status_code, list(bad.json()["error"]["fields"])) == (400, ["decision"])
    answer = api(token_for(security, "approve")).post(
        f"/api/v1/reviews/{review.pk}/decide/", {"decision": "approved", "comment": "fine"}
    )
    assert answer.status_code == 200, answer.json()
    assert SubprocessorReview.objects.get(pk=review.pk).status == "approved"
    # The engineer reads their own review; another requester does not see it.
    assert api(token_for(engineer, "read")).get(f"/api/v1/reviews/{review.pk}/").status_code == 200
    other = api(token_for(make_user("omar"), "read"))
    assert other.get(f"/api/v1/reviews/{review.pk}/").status_code == 404
    assert other.get("/api/v1/reviews/").json()["results"] == []


def test_an_extension_is_asked_and_decided_through_the_api(
    api, token_for, reviewed_vendor, engineer, security, account
):
    r = submitted(reviewed_vendor, engineer)
    decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    AccessRequest.objects.filter(pk=r.pk).update(status="active")
    until = (timezone.localdate() + timedelta(days=60)).isoformat()
    filer = api(token_for(engineer))
    too_late = filer.post(
        f"/api/v1/requests/{r.pk}/extend/",
        {"until": (timezone.localdate() + timedelta(days=400)).isoformat(), "reason": "x"},
    )
    assert (too_late.status_code, list(too_late.json()["error"]["fields"])) == (400, ["until"])
    asked = filer.post(f"/api/v1/requests/{r.pk}/extend/", {"until": until, "reason": "Q3"})
    assert asked.status_code == 200, asked.json()
    assert asked.json()["extension_until"] == until
    refusal = api(token_for(security, "approve")).post(
        f"/api/v1/requests/{r.pk}/extension/", {"approve": False}
    )
    assert (refusal.status_code, list(refusal.json()["error"]["fields"])) == (400, ["comment"])
    granted = api(token_for(security, "approve")).post(
        f"/api/v1/requests/{r.pk}/extension/", {"approve": True}
    )
    assert granted.status_code == 200, granted.json()
    assert str(AccessRequest.objects.get(pk=r.pk).expires_on) == until


def test_binders_are_started_polled_and_downloaded_by_their_owner_only(
    api, token_for, auditor, security
):
    reader = api(token_for(auditor, "read"))
    started = reader.post("/api/v1/exports/", {"tier": "high"})
    assert started.status_code == 202, started.json()
    export_id = started.json()["id"]
    assert reader.get(f"/api/v1/exports/{export_id}/").json()["status"] == "queued"
    assert reader.get(f"/api/v1/exports/{export_id}/download/").status_code == 404
    params = report_params()
    done = ReportExport.objects.create(
        requested_by=auditor, as_of=params.as_of, period_start=params.period_start, status="done"
    )
    done.file.save(f"exports/{done.pk}.pdf", ContentFile(b"%PDF-1.7 test"))
    download = reader.get(f"/api/v1/exports/{done.pk}/download/")
    assert (download.status_code, download["Content-Type"]) == (200, "application/pdf")
    assert b"".join(download.streaming_content) == b"%PDF-1.7 test"
    someone_else = api(token_for(security, "read"))
    assert someone_else.get(f"/api/v1/exports/{done.pk}/").status_code == 404
    assert someone_else.get(f"/api/v1/exports/{done.pk}/download/").status_code == 404


def test_keys_show_metadata_and_never_a_secret(api, token_for, security):
    from keys.models import AccessKey
    from tests.factories import iam_user_grant

    grant = iam_user_grant(security)
    AccessKey.objects.create(
        access_request=grant, user_name="orbit-ci", access_key_id="AKIA" + "A" * 16
    )
    rows = api(token_for(security, "read")).get("/api/v1/keys/").json()["results"]
    assert [r["access_key_id"] for r in rows] == ["AKIA" + "A" * 16]
    assert not {"secret", "secret_access_key", "ciphertext"} & set(rows[0])
