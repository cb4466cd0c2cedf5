"""Vendor records: the tier rubric and its override, slugs, contacts, offboarding."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from fulfilment import revocation
from tests.vendors.helpers import vendor_data
from vendors import services
from vendors.models import Tier, Vendor, VendorContact

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("data", "access", "crit", "tier"),
    [
        ("customer", "none", "low", Tier.CRITICAL),
        ("none", "admin", "low", Tier.CRITICAL),
        ("confidential", "read", "low", Tier.HIGH),
        ("none", "write", "low", Tier.HIGH),
        ("none", "none", "high", Tier.HIGH),
        ("internal", "none", "low", Tier.MEDIUM),
        ("none", "read", "low", Tier.MEDIUM),
        ("none", "none", "medium", Tier.MEDIUM),
        ("none", "none", "low", Tier.LOW),
    ],
)
def test_tier_rubric(data, access, crit, tier):
    assert (
        services.tier_from_rubric(data_sensitivity=data, access_level=access, criticality=crit)
        == tier
    )


def test_only_security_overrides_the_tier_and_only_with_a_reason(vendor, engineer, security):
    with pytest.raises(PermissionDenied):
        services.vendor_update(
            vendor_id=vendor.pk,
            actor=engineer,
            data={"tier_override": "low", "tier_override_reason": "x"},
        )
    with pytest.raises(PermissionDenied, match="second factor"):
        services.vendor_update(
            vendor_id=vendor.pk,
            actor=security,
            data={"tier_override": "critical", "tier_override_reason": "Holds our signing keys."},
        )
    with pytest.raises(ValidationError) as error:
        services.vendor_update(
            vendor_id=vendor.pk,
            actor=security,
            data={"tier_override": "low", "tier_override_reason": " "},
            mfa_verified=True,
        )
    assert "tier_override_reason" in error.value.error_dict
    updated = services.vendor_update(
        vendor_id=vendor.pk,
        actor=security,
        data={"tier_override": "critical", "tier_override_reason": "Holds our signing keys."},
        mfa_verified=True,
    )
    assert updated.effective_tier == "critical"
    assert AuditEvent.objects.filter(action="vendor.tier_override").count() == 1


@pytest.mark.parametrize(
    "slug",
    [
        "../etc",
        "Orbit",
        "a",
        "-orbit",
        "orbit-",
        "or--bit",
        "orbit_ci",
        "orbit ci",
        "x" * 49,
        "orbit;rm",
        "örbit",
        "1orbit",
        "x" * 41,  # the generator's limit: it adds suffixes to the slug
        "orbit-hub",  # names the portal derives from vendor "orbit"
        "orbit-trust",
        "orbit-user",
    ],
)
def test_hostile_slugs_are_refused(engineer, slug):
    with pytest.raises(ValidationError) as error:
        services.vendor_create(actor=engineer, data=vendor_data(engineer, slug=slug))
    assert "slug" in error.value.error_dict
    assert not Vendor.objects.exists()


def test_slug_never_changes(vendor, engineer):
    with pytest.raises(ValidationError):
        services.vendor_update(vendor_id=vendor.pk, actor=engineer, data={"slug": "new-slug"})


def test_names_and_slugs_are_unique(vendor, engineer):
    with pytest.raises(ValidationError) as error:
        services.vendor_create(actor=engineer, data=vendor_data(engineer, slug="other"))
    assert "name" in error.value.error_dict


def test_one_key_contact_per_vendor(vendor, engineer, security):
    first = services.contact_save(
        vendor_id=vendor.pk,
        actor=engineer,
        data={"name": "A", "email": "A@Vendor.example", "receives_access_keys": True},
    )
    second = services.contact_save(
        vendor_id=vendor.pk,
        actor=engineer,
        data={"name": "B", "email": "b@vendor.example", "receives_access_keys": True},
    )
    # Another recipient is a change that security confirms (tests/approvals/
    # test_key_recipient_change.py); once confirmed, the previous one is unmarked.
    assert not second.receives_access_keys
    change = services.pending_key_recipient_change(vendor.pk)
    assert change is not None
    services.key_recipient_change_decide(
        change_id=change.pk,
        actor=security,
        confirm=True,
        mfa_verified=True,
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.receives_access_keys, second.receives_access_keys) == (False, True)
    assert first.email == "a@vendor.example"
    assert VendorContact.objects.filter(receives_access_keys=True).count() == 1


def test_contact_email_is_validated(vendor, engineer):
    with pytest.raises(ValidationError) as error:
        services.contact_save(
            vendor_id=vendor.pk,
            actor=engineer,
            data={"name": "A", "email": "not an address\r\nBcc: x@evil.example"},
        )
    assert "email" in error.value.error_dict


def test_offboarding_needs_security_and_records_the_date(vendor, engineer, security):
    with pytest.raises(PermissionDenied):
        revocation.vendor_offboard(vendor_id=vendor.pk, actor=engineer, mfa_verified=True)
    offboarded = revocation.vendor_offboard(vendor_id=vendor.pk, actor=security, mfa_verified=True)
    assert offboarded.status == "offboarded"
    assert offboarded.offboarded_on is not None
    with pytest.raises(ValidationError, match="offboarded vendor"):
        services.review_start(vendor_id=vendor.pk, actor=engineer)
