"""Vendor and review pages: permissions by role, filters, errors beside fields."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import force_login_with_mfa
from tests.vendors.helpers import complete_review
from vendors import services
from vendors.models import SubprocessorReview, Vendor

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_login(client, vendor):
    for url in (
        reverse("vendors:list"),
        reverse("vendors:detail", kwargs={"pk": vendor.pk}),
        reverse("vendors:create"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_engineer_registers_a_vendor(client, engineer):
    client.force_login(engineer)
    response = client.post(
        reverse("vendors:create"),
        {
            "name": "Lumen Metrics",
            "slug": "lumen-metrics",
            "service": "Monitoring",
            "purpose": "Reads metrics.",
            "internal_owner": engineer.pk,
            "data_sensitivity": "internal",
            "access_level": "read",
            "criticality": "medium",
            "data_categories": ["logs"],
        },
    )
    vendor = Vendor.objects.get(slug="lumen-metrics")
    assert response["Location"] == reverse("vendors:detail", kwargs={"pk": vendor.pk})
    assert vendor.tier == "medium"
    assert vendor.created_by == engineer
    assert AuditEvent.objects.filter(action="vendor.create", object_id=str(vendor.pk)).exists()


def test_bad_input_is_shown_beside_the_field_and_kept(client, engineer, vendor):
    client.force_login(engineer)
    response = client.post(
        reverse("vendors:create"),
        {
            "name": "Orbit CI",
            "slug": "Bad Slug!",
            "service": "CI",
            "purpose": "p",
            "internal_owner": engineer.pk,
            "data_sensitivity": "internal",
            "access_level": "read",
            "criticality": "medium",
            "website": "javascript:alert(1)",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="field-slug"' in html
    assert "has-error" in html
    assert "Use 2-48 lower-case letters" in html
    assert "Enter a valid URL." in html
    assert 'value="Bad Slug!"' in html  # what the user typed is kept
    assert Vendor.objects.count() == 1


def test_duplicate_name_error_lands_on_the_name_field(client, engineer, vendor):
    client.force_login(engineer)
    response = client.post(
        reverse("vendors:create"),
        {
            "name": "Orbit CI",
            "slug": "orbit-two",
            "service": "CI",
            "purpose": "p",
            "internal_owner": engineer.pk,
            "data_sensitivity": "internal",
            "access_level": "read",
            "criticality": "medium",
        },
    )
    html = response.content.decode()
    start = html.index('id="field-name"')
    assert "Vendor with this Name already exists." in html[start : start + 1500]


def test_auditors_change_nothing(client, auditor, vendor, submitted_review):
    client.force_login(auditor)
    assert client.get(reverse("vendors:list")).status_code == 200
    assert client.get(reverse("vendors:detail", kwargs={"pk": vendor.pk})).status_code == 200
    writes = [
        ("get", reverse("vendors:create")),
        ("post", reverse("vendors:create")),
        ("post", reverse("vendors:edit", kwargs={"pk": vendor.pk})),
        ("post", reverse("vendors:review_start", kwargs={"pk": vendor.pk})),
        ("post", reverse("vendors:contact_add", kwargs={"pk": vendor.pk})),
        ("post", reverse("vendors:review_decide", kwargs={"pk": submitted_review.pk})),
        ("post", reverse("vendors:offboard", kwargs={"pk": vendor.pk})),
    ]
    for method, url in writes:
        assert getattr(client, method)(url).status_code == 403, url


def test_requesters_cannot_decide_or_offboard(client, other_engineer, vendor, submitted_review):
    client.force_login(other_engineer)
    response = client.post(
        reverse("vendors:review_decide", kwargs={"pk": submitted_review.pk}),
        {"decision": "approved"},
    )
    assert response.status_code == 403
    assert client.post(reverse("vendors:offboard", kwargs={"pk": vendor.pk})).status_code == 403
    # Nor edit a vendor they neither created nor own.
    assert client.get(reverse("vendors:edit", kwargs={"pk": vendor.pk})).status_code == 403
    submitted_review.refresh_from_db()
    assert submitted_review.status == "submitted"


def test_crafted_post_by_the_submitter_is_refused_with_a_reason(
    client, vendor, security, security2
):
    review = services.review_start(vendor_id=vendor.pk, actor=security)
    complete_review(review, security)
    services.review_submit(review_id=review.pk, actor=security)
    client.force_login(security)
    page = client.get(reverse("vendors:review_detail", kwargs={"pk": review.pk}))
    assert "Record decision" not in page.content.decode()
    response = client.post(
        reverse("vendors:review_decide", kwargs={"pk": review.pk}), {"decision": "approved"}
    )
    assert response.status_code == 403
    assert SubprocessorReview.objects.get(pk=review.pk).status == "submitted"


def test_security_decides_on_the_review_page(client, submitted_review, security):
    force_login_with_mfa(client, security)
    url = reverse("vendors:review_detail", kwargs={"pk": submitted_review.pk})
    assert "Record decision" in client.get(url).content.decode()
    response = client.post(
        reverse("vendors:review_decide", kwargs={"pk": submitted_review.pk}),
        {"decision": "rejected", "comment": ""},
    )
    assert response.status_code == 400
    assert "Say why the review is rejected." in response.content.decode()
    response = client.post(
        reverse("vendors:review_decide", kwargs={"pk": submitted_review.pk}),
        {"decision": "approved", "comment": "Looks good."},
    )
    assert response.status_code == 302
    assert SubprocessorReview.objects.get(pk=submitted_review.pk).status == "approved"


def test_vendor_list_searches_filters_and_paginates(client, engineer, make_vendor):
    for i in range(30):
        make_vendor(
            name=f"Vendor {i:02}",
            slug=f"vendor-{i:02}",
            data_sensitivity="none" if i % 2 else "customer",
            access_level="none",
            criticality="low",
        )
    client.force_login(engineer)
    page1 = client.get(reverse("vendors:list")).content.decode()
    assert "30 vendors" in page1
    assert "Page 1 of 2" in page1
    critical = client.get(reverse("vendors:list"), {"tier": "critical"}).content.decode()
    assert "15 vendors" in critical
    assert "Vendor 00" in critical
    assert "Vendor 01" not in critical
    found = client.get(reverse("vendors:list"), {"q": "vendor-07"}).content.decode()
    assert "1 vendor" in found
    assert "Vendor 07" in found
    state = client.get(reverse("vendors:list"), {"review_state": "none"}).content.decode()
    assert "30 vendors" in state
    bad = client.get(reverse("vendors:list"), {"tier": "<script>"})
    assert bad.status_code == 200
    assert "<script>" not in bad.content.decode()


def test_vendor_list_query_count_does_not_grow_with_rows(
    client, engineer, make_vendor, django_assert_max_num_queries
):
    client.force_login(engineer)
    for i in range(5):
        make_vendor(name=f"V{i}", slug=f"v-{i}")
    with django_assert_max_num_queries(8) as few:
        client.get(reverse("vendors:list"))
    for i in range(5, 25):
        make_vendor(name=f"V{i}", slug=f"v-{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("vendors:list"))


def test_review_edit_keeps_input_and_marks_missing_answers(client, vendor, engineer):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    client.force_login(engineer)
    answer = review.answers.get(item_code="A1")
    response = client.post(
        reverse("vendors:review_edit", kwargs={"pk": review.pk}),
        {
            "report-report_type": "soc2_type2",
            "report-auditor_firm": "Example <b>LLP</b>",
            "report-scope_covers_service": "unknown",
            f"checklist-answer_{answer.pk}": "yes",
            f"checklist-note_{answer.pk}": "Seen it.",
            "submit": "1",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Required for a SOC 2 report." in html
    assert "Answer this item." in html
    assert "Example &lt;b&gt;LLP&lt;/b&gt;" in html  # kept, and escaped
    review.refresh_from_db()
    assert review.status == "draft"
    assert review.auditor_firm == "Example <b>LLP</b>"
    assert review.answers.get(item_code="A1").note == "Seen it."
