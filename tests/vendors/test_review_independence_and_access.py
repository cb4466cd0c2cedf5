"""Issue 15: a review's editors never decide it, its content is read only by those who may read
its evidence, and removing a detail that is not there is a clear 404."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from tests.factories import force_login_with_mfa
from tests.vendors.helpers import complete_review
from vendors import services
from vendors.models import ReviewException, SubprocessorReview
from vendors.selectors import reviews_awaiting_decision

pytestmark = pytest.mark.django_db


@pytest.fixture
def review_edited_by_security2(vendor, engineer, security2):
    """A review written by the engineer, one answer of which security2 changed, submitted by
    the engineer."""
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    answer = review.answers.first()
    assert answer is not None
    services.review_update(
        review_id=review.pk,
        actor=security2,
        mfa_verified=True,
        report={},
        answers={answer.pk: ("yes", "checked again by security")},
    )
    return services.review_submit(review_id=review.pk, actor=engineer)


def test_someone_who_edited_the_answers_cannot_decide_the_review(
    review_edited_by_security2, security, security2
):
    review = review_edited_by_security2
    with pytest.raises(PermissionDenied, match="edited"):
        services.review_decide(
            review_id=review.pk, actor=security2, decision="approved", mfa_verified=True
        )
    assert SubprocessorReview.objects.get(pk=review.pk).status == "submitted"
    assert review not in reviews_awaiting_decision(security2)
    assert review in reviews_awaiting_decision(security)
    decided = services.review_decide(
        review_id=review.pk, actor=security, decision="approved", mfa_verified=True
    )
    assert decided.decided_by == security


def test_adding_an_exception_or_evidence_also_counts_as_editing(vendor, engineer, security2):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    services.review_add_detail(
        review_id=review.pk,
        actor=security2,
        kind="exception",
        data={"description": "CC6.1 deviation", "relevant": False},
        mfa_verified=True,
    )
    services.review_submit(review_id=review.pk, actor=engineer)
    with pytest.raises(PermissionDenied):
        services.review_decide(
            review_id=review.pk, actor=security2, decision="approved", mfa_verified=True
        )


def test_the_review_page_offers_no_decision_to_an_editor(
    client, review_edited_by_security2, security2
):
    force_login_with_mfa(client, security2)  # the editor rule, not the second factor, refuses
    url = reverse("vendors:review_detail", kwargs={"pk": review_edited_by_security2.pk})
    assert "Record decision" not in client.get(url).content.decode()
    response = client.post(
        reverse("vendors:review_decide", kwargs={"pk": review_edited_by_security2.pk}),
        {"decision": "approved"},
    )
    assert response.status_code == 403


def test_an_unrelated_user_reads_neither_the_review_nor_its_answers(
    client, submitted_review, other_engineer, engineer, security, auditor
):
    first_answer = submitted_review.answers.first()
    note = first_answer.note
    detail = reverse("vendors:review_detail", kwargs={"pk": submitted_review.pk})
    edit = reverse("vendors:review_edit", kwargs={"pk": submitted_review.pk})
    client.force_login(other_engineer)
    for url in (detail, edit):
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert note not in response.content.decode()
    # Those who may read its evidence still read the review and its answers.
    for person in (engineer, security, auditor):
        client.force_login(person)
        page = client.get(detail)
        assert page.status_code == 200, person
        assert note in page.content.decode(), person


def test_an_unrelated_user_cannot_read_a_draft_through_its_edit_page(
    client, vendor, engineer, other_engineer
):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    client.force_login(other_engineer)
    for name in ("vendors:review_detail", "vendors:review_edit"):
        response = client.get(reverse(name, kwargs={"pk": review.pk}))
        assert response.status_code in (403, 404), name


def test_removing_an_exception_that_does_not_exist_is_a_404(client, vendor, engineer):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    exception = services.review_add_detail(
        review_id=review.pk, actor=engineer, kind="exception", data={"description": "x"}
    )
    client.force_login(engineer)

    def remove(detail_id: int) -> int:
        url = reverse(
            "vendors:review_detail_remove",
            kwargs={"pk": review.pk, "kind": "exception", "detail_id": detail_id},
        )
        return client.post(url).status_code

    assert remove(exception.pk + 1000) == 404
    assert remove(exception.pk) == 302
    assert not ReviewException.objects.filter(pk=exception.pk).exists()
    assert remove(exception.pk) == 404  # removed already


def test_removing_another_reviews_exception_is_a_404(client, make_vendor, vendor, engineer):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    other_vendor = make_vendor(name="Lumen", slug="lumen")
    other_review = services.review_start(vendor_id=other_vendor.pk, actor=engineer)
    foreign = services.review_add_detail(
        review_id=other_review.pk, actor=engineer, kind="exception", data={"description": "x"}
    )
    client.force_login(engineer)
    url = reverse(
        "vendors:review_detail_remove",
        kwargs={"pk": review.pk, "kind": "exception", "detail_id": foreign.pk},
    )
    assert client.post(url).status_code == 404
    assert ReviewException.objects.filter(pk=foreign.pk).exists()
