"""Vendor and review operations: each owns its transaction, checks its rules, writes the audit.

Views and the admin call these; nothing else changes a vendor or a review's status.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from datetime import date
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal import lifecycle
from accessportal.effects import notify_key_recipient_change_on_commit, notify_vendor_on_commit
from accessportal.roles import (
    Role,
    has_role,
    require_owner_or_verified_security,
    require_verified_security,
)
from audit.models import AuditEvent
from audit.services import audit_record, audit_snapshot, audited_as_snapshots
from provisioning.substrate.errors import GrantError
from provisioning.substrate.names import vendor_slug
from provisioning.text import unsafe_characters
from vendors.models import (
    RECIPIENT_CHANGE_LIFECYCLE,
    REVIEW_LIFECYCLE,
    VENDOR_FIELDS,
    VENDOR_LIFECYCLE,
    AccessLevel,
    ChecklistAnswer,
    ChecklistItem,
    ComplementaryControl,
    Criticality,
    DataSensitivity,
    EvidenceFile,
    KeyRecipientChange,
    ReviewException,
    SubprocessorReview,
    SubserviceOrganization,
    Tier,
    Vendor,
    VendorContact,
)

RStatus = SubprocessorReview.Status

# --- Tier rubric ----------------------------------------------------------------------------------


def tier_from_rubric(*, data_sensitivity: str, access_level: str, criticality: str) -> Tier:
    """The inherent risk tier (SOC2.md checklist item 3), driven by the riskiest dimension.

    Critical: customer or personal data, or administrator-equivalent access.
    High: confidential data (code, secrets, infrastructure), write access, or an outage that
    affects our service. Medium: any internal data, read access or a delivery impact. Low: none.
    """
    if data_sensitivity == DataSensitivity.CUSTOMER or access_level == AccessLevel.ADMIN:
        return Tier.CRITICAL
    if (
        data_sensitivity == DataSensitivity.CONFIDENTIAL
        or access_level == AccessLevel.WRITE
        or criticality == Criticality.HIGH
    ):
        return Tier.HIGH
    if (
        data_sensitivity == DataSensitivity.INTERNAL
        or access_level == AccessLevel.READ
        or criticality == Criticality.MEDIUM
    ):
        return Tier.MEDIUM
    return Tier.LOW


# --- Vendors --------------------------------------------------------------------------------------


def vendor_name_problem(name: str) -> str | None:
    """Why `name` cannot be a vendor's name, or None. The name reaches commit subjects, pull
    request titles and e-mail subjects, so bidirectional controls (which reorder what readers
    see) and line breaks or other control characters (which split a subject) are refused."""
    found = unsafe_characters(name)
    if not found:
        return None
    return _(
        "Remove the invisible characters that would reorder or break the name where it is "
        "shown: %(found)s."
    ) % {"found": ", ".join(found)}


def _apply_vendor_fields(
    vendor: Vendor, data: dict[str, Any], *, actor: Any, mfa_verified: bool
) -> None:
    override_before = vendor.tier_override
    for field in VENDOR_FIELDS:
        if field in data:
            setattr(vendor, field, data[field])
    problem = vendor_name_problem(vendor.name)
    if problem:
        raise ValidationError({"name": problem})
    if vendor.tier_override != override_before:
        require_verified_security(
            actor,
            mfa_verified=mfa_verified,
            refusal=_("Only the security team can override a vendor's tier."),
        )
    if vendor.tier_override and not vendor.tier_override_reason.strip():
        raise ValidationError({"tier_override_reason": _("Say why the rubric's tier is wrong.")})
    if not vendor.tier_override:
        vendor.tier_override_reason = ""
    vendor.tier = tier_from_rubric(
        data_sensitivity=vendor.data_sensitivity,
        access_level=vendor.access_level,
        criticality=vendor.criticality,
    )
    if (
        vendor.contract_start
        and vendor.contract_end
        and vendor.contract_end < vendor.contract_start
    ):
        raise ValidationError({"contract_end": _("The contract cannot end before it starts.")})
    vendor.full_clean()


def _check_slug_generates(slug: str) -> None:
    """The slug never changes and names the vendor's files and IAM resources in every change
    set, so it must pass the change-set generator's stricter rule (at most 40 characters, not
    ending like the names it derives for other vendors) now, not fail at provisioning."""
    try:
        vendor_slug(slug)
    except GrantError as exc:
        raise ValidationError({"slug": exc.message}) from None


def _require_vendor_editor(vendor: Vendor, actor: Any, *, mfa_verified: bool) -> None:
    """The vendor's creator and internal owner change its record and contacts; security may
    too, with a second factor (the views offer the same people the forms)."""
    require_owner_or_verified_security(
        actor,
        owner_ids=(vendor.created_by_id, vendor.internal_owner_id),
        mfa_verified=mfa_verified,
        refusal=_("Only the vendor's creator, its internal owner or security can change it."),
    )


@transaction.atomic
def vendor_create(*, actor: Any, data: dict[str, Any], mfa_verified: bool = False) -> Vendor:
    """Registers a vendor; the requester becomes its creator and the tier follows the rubric
    (a tier override needs an MFA-verified security member)."""
    try:
        # The generator's rule, checked now rather than at the first pull request: the slug
        # names the vendor's files, and some of them add -hub, -trust or -user to it.
        vendor_slug(data.get("slug"), "slug")
    except GrantError as error:
        raise ValidationError({"slug": error.message}) from error
    vendor = Vendor(created_by=actor)
    _apply_vendor_fields(vendor, data, actor=actor, mfa_verified=mfa_verified)
    _check_slug_generates(vendor.slug)
    vendor.save()
    audit_record(actor=actor, action="vendor.create", obj=vendor, after=audit_snapshot(vendor))
    return vendor


@transaction.atomic
def vendor_update(
    *, vendor_id: int, actor: Any, data: dict[str, Any], mfa_verified: bool = False
) -> Vendor:
    """Changes a vendor's record (the slug never changes: it names files and IAM resources).

    Its creator and internal owner may; anyone else only as an MFA-verified security member.
    """
    vendor = Vendor.objects.select_for_update().get(pk=vendor_id)
    _require_vendor_editor(vendor, actor, mfa_verified=mfa_verified)
    if "slug" in data and data["slug"] != vendor.slug:
        raise ValidationError({"slug": _("The slug cannot change once the vendor exists.")})
    before = audit_snapshot(vendor)
    _apply_vendor_fields(vendor, data, actor=actor, mfa_verified=mfa_verified)
    vendor.save()
    after = audit_snapshot(vendor)
    if before != after:
        action = (
            "vendor.tier_override"
            if before["tier_override"] != after["tier_override"]
            else "vendor.update"
        )
        audit_record(actor=actor, action=action, obj=vendor, before=before, after=after)
    return vendor


@transaction.atomic
def vendor_mark_offboarded(
    *, vendor_id: int, actor: Any, mfa_verified: bool, on: date | None = None
) -> Vendor:
    """Marks a vendor offboarded. Its grants are fulfilment's: offboarding as a whole, with
    every live grant revoked in the same transaction, is `fulfilment.revocation.vendor_offboard`."""
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team can offboard a vendor.")
    )
    vendor = Vendor.objects.select_for_update().get(pk=vendor_id)
    before = audit_snapshot(vendor)
    vendor.offboarded_on = on or timezone.localdate()

    lifecycle.transition(
        vendor,
        VENDOR_LIFECYCLE,
        to=Vendor.Status.OFFBOARDED,
        extra_fields=("offboarded_on",),
        error=lambda current, to: ValidationError(_("The vendor is already offboarded.")),
        on_change=audited_as_snapshots(
            vendor, actor=actor, action="vendor.offboard", before=before
        ),
    )
    return vendor


def _unmark_other_key_contacts(vendor: Vendor, contact: VendorContact, *, actor: Any) -> None:
    previous = vendor.contacts.filter(receives_access_keys=True).exclude(pk=contact.pk)
    for other in previous:
        audit_record(
            actor=actor,
            action="vendor.contact_update",
            obj=other,
            before=audit_snapshot(other),
            after={**audit_snapshot(other), "receives_access_keys": False},
        )
    previous.update(receives_access_keys=False)


def pending_key_recipient_change(vendor_id: int) -> KeyRecipientChange | None:
    return (
        KeyRecipientChange.objects.select_related("contact", "proposed_by")
        .filter(vendor_id=vendor_id, status=KeyRecipientChange.Status.PENDING)
        .first()
    )


# approvals.models.Strategy.IAM_USER: the one strategy whose grants send keys.
IAM_USER_STRATEGY = "iam_user"
# Requests past the draft stage: keys may flow for them without anyone looking at the vendor
# page again, so from then on even the first key recipient is confirmed by security.
REQUESTS_UNDER_WAY = ("submitted", "approved", "provisioning", "pr_open", "active", "expiring")


def _recipient_change_needs_security(vendor: Vendor) -> bool:
    """Whether a change of who receives keys must wait for security: always once the vendor
    has a key recipient (the change would redirect a key), and for the first recipient once
    an IAM-user request is under way. A vendor being registered names its first recipient
    directly; security sees it on the vendor page before approving any access."""
    # The requests through the reverse relation: approvals is above vendors and imports it,
    # never the other way (README "Architecture").
    return (
        vendor.contacts.filter(receives_access_keys=True).exists()
        or vendor.access_requests.filter(
            strategy=IAM_USER_STRATEGY, status__in=REQUESTS_UNDER_WAY
        ).exists()
    )


@transaction.atomic
def contact_save(
    *,
    vendor_id: int,
    actor: Any,
    data: dict[str, Any],
    contact_id: int | None = None,
    mfa_verified: bool = False,
) -> VendorContact:
    """Adds or changes a contact; marking a new key recipient unmarks the previous one.

    A change of who receives access keys (the key contact's e-mail, another contact marked,
    a new contact marked) is not applied when it needs security (see
    `_recipient_change_needs_security`): it becomes a pending `KeyRecipientChange`, the
    contact keeps its confirmed e-mail and flag, and the rest of the edit is saved.
    """
    vendor = Vendor.objects.select_for_update().get(pk=vendor_id)
    _require_vendor_editor(vendor, actor, mfa_verified=mfa_verified)
    contact = (
        VendorContact.objects.get(pk=contact_id, vendor=vendor)
        if contact_id
        else VendorContact(vendor=vendor)
    )
    before = audit_snapshot(contact) if contact.pk else None
    confirmed_email, confirmed_flag = contact.email, contact.receives_access_keys
    for field in ("name", "email", "role", "receives_access_keys"):
        if field in data:
            setattr(contact, field, data[field])
    contact.email = contact.email.strip().lower()
    pending = pending_key_recipient_change(vendor.pk)
    email_changes = contact.pk is not None and contact.email != confirmed_email
    if pending and pending.contact_id == contact.pk and email_changes:
        raise ValidationError(
            {
                "email": _(
                    "A change of who receives this vendor's access keys names this "
                    "contact and waits for security: its e-mail cannot change until then."
                )
            }
        )
    changes_recipient = contact.receives_access_keys and (
        not confirmed_flag or contact.email != confirmed_email
    )
    if changes_recipient and (pending or _recipient_change_needs_security(vendor)):
        if pending:
            raise ValidationError(
                _(
                    "A change of who receives this vendor's access keys already waits for "
                    "security: ask them to confirm or reject it first."
                )
            )
        proposed_email = contact.email
        # Validated with the proposed address (format, one address per vendor) ...
        contact.receives_access_keys = confirmed_flag
        contact.full_clean()
        # ... but saved with the confirmed one: the key contact's address changes on confirm.
        if confirmed_flag:
            contact.email = confirmed_email
        contact.save()
        after = audit_snapshot(contact)
        if before != after:
            audit_record(
                actor=actor,
                action="vendor.contact_update" if before else "vendor.contact_add",
                obj=contact,
                before=before,
                after=after,
            )
        _key_recipient_change_propose(vendor, contact, proposed_email, actor=actor)
        return contact
    if contact.receives_access_keys:
        _unmark_other_key_contacts(vendor, contact, actor=actor)
    contact.full_clean()
    contact.save()
    audit_record(
        actor=actor,
        action="vendor.contact_update" if before else "vendor.contact_add",
        obj=contact,
        before=before,
        after=audit_snapshot(contact),
    )
    return contact


def _key_recipient_change_propose(
    vendor: Vendor, contact: VendorContact, email: str, *, actor: Any
) -> KeyRecipientChange:
    """Records the proposal and tells the recipient until now and security (after commit)."""
    current = vendor.contacts.filter(receives_access_keys=True).first()
    change = KeyRecipientChange.objects.create(
        vendor=vendor,
        contact=contact,
        email=email,
        previous_email=current.email if current else "",
        proposed_by=actor,
    )
    audit_record(
        actor=actor,
        action="vendor.key_recipient_propose",
        obj=change,
        after=audit_snapshot(change),
    )
    notify_key_recipient_change_on_commit(change_id=change.pk)
    return change


def key_recipient_change_may_decide(change: KeyRecipientChange, user: Any) -> bool:
    """Security, and neither the proposer nor the vendor's requester: its creator or anyone
    who asked for its access (each could want the keys sent somewhere else)."""
    return (
        has_role(user, Role.SECURITY)
        and user.pk not in (change.proposed_by_id, change.vendor.created_by_id)
        and not change.vendor.access_requests.filter(requester=user).exists()
    )


@transaction.atomic
def key_recipient_change_decide(
    *, change_id: int, actor: Any, confirm: bool, mfa_verified: bool, comment: str = ""
) -> KeyRecipientChange:
    """Security confirms (the contact becomes the key recipient at the proposed address) or
    rejects a pending change; either way the key links held meanwhile go out, to whoever
    receives keys after the decision."""
    vendor_id = KeyRecipientChange.objects.values_list("vendor_id", flat=True).get(pk=change_id)
    vendor = Vendor.objects.select_for_update().get(pk=vendor_id)
    change = (
        KeyRecipientChange.objects.select_for_update().select_related("vendor").get(pk=change_id)
    )
    require_verified_security(
        actor,
        mfa_verified=mfa_verified,
        refusal=_("Only the security team confirms who receives access keys."),
    )
    if not key_recipient_change_may_decide(change, actor):
        raise PermissionDenied(
            _(
                "You proposed this change or asked for this vendor's access: another member "
                "of the security team must decide it."
            )
        )
    to = KeyRecipientChange.Status.CONFIRMED if confirm else KeyRecipientChange.Status.REJECTED
    # Checked before the comment and the contact: a second decision is refused as such.
    if not RECIPIENT_CHANGE_LIFECYCLE.allows(change.status, to):
        raise ValidationError(_("This change was decided already."))
    comment = comment.strip()
    if not confirm and not comment:
        raise ValidationError({"comment": _("Say why the change is rejected.")})
    before = audit_snapshot(change)
    if confirm:
        if change.contact_id is None:
            raise ValidationError(_("The contact of this change was removed: reject it."))
        contact = VendorContact.objects.select_for_update().get(pk=change.contact_id)
        contact_before = audit_snapshot(contact)
        _unmark_other_key_contacts(vendor, contact, actor=actor)
        contact.email = change.email
        contact.receives_access_keys = True
        contact.full_clean()
        contact.save()
        audit_record(
            actor=actor,
            action="vendor.contact_update",
            obj=contact,
            before=contact_before,
            after=audit_snapshot(contact),
        )
    change.decided_by = actor
    change.decided_at = timezone.now()
    change.decision_comment = comment

    # The table's effect releases the key links held meanwhile, after the commit, in the
    # worker (`vendors.models.RELEASE_HELD_KEYS`).
    lifecycle.transition(
        change,
        RECIPIENT_CHANGE_LIFECYCLE,
        to=to,
        extra_fields=("decided_by", "decided_at", "decision_comment"),
        on_change=audited_as_snapshots(
            change,
            actor=actor,
            action="vendor.key_recipient_confirm" if confirm else "vendor.key_recipient_reject",
            before=before,
        ),
    )
    return change


@transaction.atomic
def contact_delete(*, contact_id: int, actor: Any, mfa_verified: bool = False) -> None:
    contact = VendorContact.objects.select_for_update().select_related("vendor").get(pk=contact_id)
    _require_vendor_editor(contact.vendor, actor, mfa_verified=mfa_verified)
    if contact.key_recipient_changes.filter(status=KeyRecipientChange.Status.PENDING).exists():
        raise ValidationError(
            _(
                "A change of who receives access keys names this contact and waits for "
                "security: it cannot be removed until then."
            )
        )
    audit_record(
        actor=actor, action="vendor.contact_remove", obj=contact, before=audit_snapshot(contact)
    )
    contact.delete()


# --- Checklist catalogue --------------------------------------------------------------------------


@transaction.atomic
def checklist_item_save(*, item: ChecklistItem, actor: Any, mfa_verified: bool) -> ChecklistItem:
    """Saves a question of the catalogue (the admin's form has validated it), audited.

    The catalogue decides what blocks a vendor's approval, so only an MFA-verified security
    member changes it. Answers already given keep their own copy of the text and blocking flag.
    """
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team edits the checklist.")
    )
    stored = (
        ChecklistItem.objects.select_for_update().filter(pk=item.pk).first() if item.pk else None
    )
    before = audit_snapshot(stored) if stored else None
    item.save()
    audit_record(
        actor=actor,
        action="checklist.update" if before else "checklist.add",
        obj=item,
        before=before,
        after=audit_snapshot(item),
    )
    return item


# --- Reviews --------------------------------------------------------------------------------------


def review_can_edit(review: SubprocessorReview, user: Any) -> bool:
    """Who may fill a draft: its author, the vendor's internal owner, or security."""
    return review.is_editable and (
        user.pk in (review.created_by_id, review.vendor.internal_owner_id)
        or has_role(user, Role.SECURITY)
    )


def _lock_review(review_id: int) -> SubprocessorReview:
    return SubprocessorReview.objects.select_for_update().select_related("vendor").get(pk=review_id)


def _require_editable(review: SubprocessorReview, actor: Any, *, mfa_verified: bool) -> None:
    """A draft changes by its author or the vendor's owner, or by security with a second
    factor (the same people as `review_can_edit`)."""
    if not review.is_editable:
        raise ValidationError(_("This review was submitted and can no longer be changed."))
    require_owner_or_verified_security(
        actor,
        owner_ids=(review.created_by_id, review.vendor.internal_owner_id),
        mfa_verified=mfa_verified,
        refusal=_(
            "Only the review's author, the vendor's owner or security can change this review."
        ),
    )


@transaction.atomic
def review_start(*, vendor_id: int, actor: Any) -> SubprocessorReview:
    """Starts a draft review with one answer per active checklist item, copied as it is now."""
    vendor = Vendor.objects.select_for_update().get(pk=vendor_id)
    if vendor.status != Vendor.Status.ACTIVE:
        raise ValidationError(_("An offboarded vendor is not reviewed."))
    if vendor.reviews.filter(status__in=REVIEW_LIFECYCLE.group("open")).exists():
        raise ValidationError(_("A review of this vendor is already in progress."))
    tier = vendor.effective_tier
    review = SubprocessorReview.objects.create(vendor=vendor, created_by=actor, tier_at_review=tier)
    ChecklistAnswer.objects.bulk_create(
        ChecklistAnswer(
            review=review,
            item=item,
            item_code=item.code,
            item_text=item.text,
            evidence_required=item.evidence_required,
            blocking=item.is_blocking_for(tier),
        )
        for item in ChecklistItem.objects.filter(active=True)
    )
    audit_record(actor=actor, action="review.start", obj=review, after=audit_snapshot(review))
    return review


REVIEW_REPORT_FIELDS = (
    "report_type",
    "scope_covers_service",
    "trust_services_categories",
    "period_start",
    "period_end",
    "report_issued_on",
    "auditor_firm",
    "opinion",
    "bridge_letter_through",
    "alternative_evidence",
    "residual_risk",
)


@transaction.atomic
def review_update(
    *,
    review_id: int,
    actor: Any,
    report: dict[str, Any],
    answers: dict[int, tuple[str, str]],
    mfa_verified: bool = False,
) -> SubprocessorReview:
    """Saves the report's facts and the checklist answers ({answer id: (answer, note)})."""
    review = _lock_review(review_id)
    _require_editable(review, actor, mfa_verified=mfa_verified)
    before = audit_snapshot(review)
    for field in REVIEW_REPORT_FIELDS:
        if field in report:
            setattr(review, field, report[field])
    review.full_clean()
    review.save()
    changed_answers = []
    for answer in review.answers.select_for_update().filter(pk__in=answers):
        value, note = answers[answer.pk]
        if (answer.answer, answer.note) != (value, note):
            answer.answer, answer.note = value, note
            answer.full_clean()
            answer.save(update_fields=["answer", "note"])
            changed_answers.append({"code": answer.item_code, "answer": value, "note": note})
    after = audit_snapshot(review)
    if before != after or changed_answers:
        audit_record(
            actor=actor,
            action="review.update",
            obj=review,
            before=before,
            after={**after, "answers_changed": changed_answers},
        )
    return review


# The lists a review keeps beside its answers, by the name used in URLs and audit actions.
REVIEW_DETAIL_MODELS: dict[str, Any] = {
    "exception": ReviewException,
    "cuec": ComplementaryControl,
    "subservice": SubserviceOrganization,
}


@transaction.atomic
def review_add_detail(
    *, review_id: int, actor: Any, kind: str, data: dict[str, Any], mfa_verified: bool = False
) -> ReviewException | ComplementaryControl | SubserviceOrganization:
    """Adds an exception, a CUEC or a subservice organization to a draft review."""
    model = REVIEW_DETAIL_MODELS[kind]
    review = _lock_review(review_id)
    _require_editable(review, actor, mfa_verified=mfa_verified)
    detail = model(review=review, **data)
    detail.full_clean()
    detail.save()
    audit_record(actor=actor, action=f"review.{kind}_add", obj=review, after=audit_snapshot(detail))
    return detail


@transaction.atomic
def review_remove_detail(
    *, review_id: int, actor: Any, kind: str, detail_id: int, mfa_verified: bool = False
) -> None:
    """Removes one of those details from a draft review."""
    model = REVIEW_DETAIL_MODELS[kind]
    review = _lock_review(review_id)
    _require_editable(review, actor, mfa_verified=mfa_verified)
    # DoesNotExist (an id that is not this review's) reaches the view, which answers 404.
    detail = model.objects.get(pk=detail_id, review=review)
    audit_record(
        actor=actor, action=f"review.{kind}_remove", obj=review, before=audit_snapshot(detail)
    )
    detail.delete()


# --- Evidence -------------------------------------------------------------------------------------

# Allowed evidence: extension -> (content type, check of the first bytes).
_ZIP = b"PK\x03\x04"
EVIDENCE_TYPES: dict[str, tuple[str, bytes | None]] = {
    ".pdf": ("application/pdf", b"%PDF-"),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    ".txt": ("text/plain", None),
    ".csv": ("text/csv", None),
}


def sanitize_file_name(name: str) -> str:
    """A display-safe file name: no folders, no control characters, no leading dots."""
    name = PurePosixPath(name.replace("\\", "/")).name
    name = unicodedata.normalize("NFKC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[^\w.\- ()]", "_", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = stem[:120] or "evidence"
    return f"{stem}.{ext.lower()[:10]}" if ext else stem


def _check_evidence(upload: UploadedFile) -> tuple[str, str, str]:
    """Validates size and type; returns (display name, extension, content type)."""
    limit = settings.PORTAL_EVIDENCE_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise ValidationError(
            {"file": _("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}}
        )
    if upload.size == 0:
        raise ValidationError({"file": _("The file is empty.")})
    display = sanitize_file_name(upload.name or "")
    ext = PurePosixPath(display).suffix.lower()
    if ext not in EVIDENCE_TYPES:
        allowed = ", ".join(sorted(EVIDENCE_TYPES))
        raise ValidationError(
            {"file": _("Files of this type are not accepted (allowed: %(a)s).") % {"a": allowed}}
        )
    content_type, magic = EVIDENCE_TYPES[ext]
    upload.seek(0)
    head = upload.read(2048)
    upload.seek(0)
    if magic is not None and not head.startswith(magic):
        raise ValidationError(
            {"file": _("The file's content does not match its %(ext)s name.") % {"ext": ext}}
        )
    if magic is None:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at 2048 bytes is fine
                raise ValidationError({"file": _("A text file must be UTF-8 text.")}) from exc
        if b"\x00" in head:
            raise ValidationError({"file": _("A text file must be UTF-8 text.")})
    return display, ext, content_type


@transaction.atomic
def evidence_add(
    *,
    review_id: int,
    actor: Any,
    upload: UploadedFile,
    answer_id: int | None = None,
    mfa_verified: bool = False,
) -> EvidenceFile:
    """Stores an evidence file for a draft review, with its SHA-256."""
    review = _lock_review(review_id)
    _require_editable(review, actor, mfa_verified=mfa_verified)
    answer = review.answers.get(pk=answer_id) if answer_id else None
    display, ext, content_type = _check_evidence(upload)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    evidence = EvidenceFile(
        review=review,
        answer=answer,
        original_name=display,
        content_type=content_type,
        size=upload.size or 0,
        sha256=digest.hexdigest(),
        uploaded_by=actor,
        stored_name=f"{uuid.uuid4().hex}{ext}",
    )
    evidence.file.save(evidence.stored_name, upload, save=False)
    evidence.save()
    audit_record(
        actor=actor,
        action="review.evidence_add",
        obj=review,
        after=audit_snapshot(
            evidence, ["original_name", "sha256", "size", "content_type", "answer"]
        ),
    )
    return evidence


def review_can_read(review: SubprocessorReview, user: Any) -> bool:
    """Security and auditors read every review; others only the reviews they write or own.

    A review holds the vendor's SOC 2 findings, exceptions and our dispositions: the same
    people may read it as may download its evidence files."""
    if has_role(user, Role.SECURITY, Role.AUDITORS):
        return True
    return user.is_authenticated and user.pk in (
        review.created_by_id,
        review.submitted_by_id,
        review.vendor.internal_owner_id,
    )


def reviews_visible_to(user: Any) -> QuerySet[SubprocessorReview]:
    """The reviews `user` may read (`review_can_read`, as a query for lists)."""
    if has_role(user, Role.SECURITY, Role.AUDITORS):
        return SubprocessorReview.objects.all()
    if not user.is_authenticated:
        return SubprocessorReview.objects.none()
    return SubprocessorReview.objects.filter(
        Q(created_by=user.pk) | Q(submitted_by=user.pk) | Q(vendor__internal_owner=user.pk)
    )


def evidence_can_read(evidence: EvidenceFile, user: Any) -> bool:
    """Evidence is read by whoever may read its review."""
    return review_can_read(evidence.review, user)


# --- Submission and decision ----------------------------------------------------------------------


def review_submission_problems(review: SubprocessorReview) -> dict[str, list[str]]:
    """Everything that stops a draft from being submitted, by field (empty when ready)."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if not review.report_type:
        add("report_type", _("Choose the kind of attestation the vendor provided."))
    elif review.report_type in (
        SubprocessorReview.ReportType.SOC2_TYPE2,
        SubprocessorReview.ReportType.SOC2_TYPE1,
    ):
        for field in ("period_start", "period_end", "report_issued_on", "auditor_firm", "opinion"):
            if not getattr(review, field):
                add(field, _("Required for a SOC 2 report."))
        if review.scope_covers_service is None:
            add("scope_covers_service", _("Say whether the report covers the service we buy."))
    elif not review.alternative_evidence.strip():
        add(
            "alternative_evidence",
            _(
                "Without a SOC 2 report, describe the alternative "
                "evidence and compensating controls."
            ),
        )
    if not review.residual_risk:
        add("residual_risk", _("Assess the residual risk."))
    evidence_answers = set(review.evidence.values_list("answer_id", flat=True))
    for answer in review.answers.all():
        field = f"answer_{answer.pk}"
        if not answer.answer:
            add(field, _("Answer this item."))
        elif (
            answer.answer == ChecklistAnswer.Answer.YES
            and answer.evidence_required
            and answer.pk not in evidence_answers
        ):
            add(field, _("This item needs an evidence file."))
    for exception in review.exceptions.all():
        if exception.relevant and not exception.disposition:
            add("exceptions", _("Record our disposition of each relevant exception."))
            break
    return problems


@transaction.atomic
def review_submit(*, review_id: int, actor: Any, mfa_verified: bool = False) -> SubprocessorReview:
    """Submits a complete draft for security's decision."""
    review = _lock_review(review_id)
    _require_editable(review, actor, mfa_verified=mfa_verified)
    problems = review_submission_problems(review)
    if problems:
        raise ValidationError(problems)
    before = audit_snapshot(review)
    review.submitted_by = actor
    review.submitted_at = timezone.now()

    lifecycle.transition(
        review,
        REVIEW_LIFECYCLE,
        to=RStatus.SUBMITTED,
        extra_fields=("submitted_by", "submitted_at"),
        on_change=audited_as_snapshots(review, actor=actor, action="review.submit", before=before),
    )
    return review


# The audited actions by which someone shapes a review's content before it is submitted.
REVIEW_EDIT_ACTIONS = (
    "review.start",
    "review.update",
    "review.evidence_add",
    *(f"review.{kind}_{verb}" for kind in REVIEW_DETAIL_MODELS for verb in ("add", "remove")),
)


def review_editor_ids(review_id: int) -> set[int]:
    """Everyone who wrote part of the review: its author, anyone who changed its answers or
    facts, uploaded evidence or added/removed an exception, CUEC or subservice organization.

    Read from the audit log, which records each of those edits with its actor and cannot be
    rewritten, so it also covers reviews edited before this rule existed."""
    return set(
        AuditEvent.objects.filter(
            object_type=SubprocessorReview._meta.label_lower,
            object_id=str(review_id),
            action__in=REVIEW_EDIT_ACTIONS,
            actor__isnull=False,
        ).values_list("actor_id", flat=True)
    )


def review_may_decide(review: SubprocessorReview, user: Any) -> bool:
    """Whether `user` is independent of the review: security, and neither its submitter nor
    anyone who wrote any of it (a decider must not mark their own work)."""
    return (
        has_role(user, Role.SECURITY)
        and user.pk not in (review.submitted_by_id, review.created_by_id)
        and user.pk not in review_editor_ids(review.pk)
    )


def review_interval_months(tier: str) -> int:
    return int(settings.PORTAL_REVIEW_INTERVAL_MONTHS[tier])


def add_months(day: date, months: int) -> date:
    """`day` plus whole months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    import calendar

    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@transaction.atomic
def review_decide(
    *,
    review_id: int,
    actor: Any,
    decision: str,
    mfa_verified: bool,
    comment: str = "",
    conditions: str = "",
) -> SubprocessorReview:
    """Security's decision on a submitted review; sets the next review date by tier."""
    review = _lock_review(review_id)
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team decides reviews.")
    )
    if review.status != RStatus.SUBMITTED:
        raise ValidationError(_("Only a submitted review can be decided."))
    if not review_may_decide(review, actor):
        raise PermissionDenied(
            _(
                "You wrote, edited or submitted this review: another member of the "
                "security team must decide it."
            )
        )
    if decision not in REVIEW_LIFECYCLE.group("decided"):
        raise ValidationError({"decision": _("Choose approve, approve with conditions or reject.")})
    if decision == RStatus.REJECTED and not comment.strip():
        raise ValidationError({"comment": _("Say why the review is rejected.")})
    if decision == RStatus.CONDITIONAL and not conditions.strip():
        raise ValidationError({"conditions": _("List the conditions of the approval.")})
    blockers = [a.item_code for a in review.answers.all() if a.is_open_blocker]
    if decision == RStatus.APPROVED and blockers:
        raise ValidationError(
            {
                "decision": _(
                    "Blocking items are open for a %(tier)s vendor (%(items)s): reject the "
                    "review or approve it with conditions."
                )
                % {"tier": review.tier_at_review, "items": ", ".join(blockers)}
            }
        )
    before = audit_snapshot(review)
    today = timezone.localdate()
    review.decided_by = actor
    review.decided_at = timezone.now()
    review.decision_comment = comment.strip()
    review.conditions = conditions.strip() if decision == RStatus.CONDITIONAL else ""
    if decision != RStatus.REJECTED:
        review.next_review_due = add_months(
            today, review_interval_months(review.vendor.effective_tier)
        )

    lifecycle.transition(
        review,
        REVIEW_LIFECYCLE,
        to=decision,
        extra_fields=(
            "decided_by",
            "decided_at",
            "decision_comment",
            "conditions",
            "next_review_due",
        ),
        on_change=audited_as_snapshots(review, actor=actor, action="review.decide", before=before),
    )
    # The owner answers for the vendor and security for the decision: both hear the outcome.
    notify_vendor_on_commit(
        vendor_id=review.vendor_id,
        event="review_decided",
        actor_id=actor.pk,
        comment=review.decision_comment,
        extra={"decision": str(review.get_status_display()), "conditions": review.conditions},
    )
    return review
