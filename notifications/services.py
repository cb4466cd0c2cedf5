"""Notices about access requests and vendors: e-mail (plain text and HTML) and an optional
Slack post.

Services call `notify_on_commit` inside their transaction. After the commit, one Celery task per
channel and audience (`notifications.tasks`) reloads the request and calls
`notice_email_send` or `notice_slack_send`. A rolled-back transition sends nothing, and a broken
mail server or Slack never blocks a transition.

Notices stay minimal (issue 5, DESIGN.md section 6): vendor, strategy, status, risk, who asked,
who decided and the decision's comment, and a link to the request. Never the external id,
principals, policies, accounts or error details: the request page shows those to people who
are allowed to see them. Templates receive plain strings chosen here, not the request object,
so a later template edit cannot leak a field by accident.

A vendor's own events (its reviews) take the same path with `vendor_notice_email_send` and
`vendor_notice_slack_send`; so do security's notices of a proposed key recipient change and of
external access nobody approved, whose Slack posts name no address, principal or account.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.urls import reverse

from accessportal.effects import (
    APPROVERS,
    AUDIENCES,
    KEY_RECIPIENT_AUDIENCES,
    NOTICES,
    OWNER,
    PREVIOUS_CONTACT,
    REQUESTER,
    SECURITY,
    VENDOR_NOTICES,
)
from accessportal.roles import Role
from approvals import rules
from approvals.models import AccessRequest
from approvals.requests import request_url
from provisioning.slack import SlackRefused, webhook_post, webhook_url_allowed
from provisioning.text import one_line
from vendors.models import KeyRecipientChange, Vendor

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "[Vendor access]"
EMAIL_TIMEOUT_SECONDS = 30


WHY_YOU_GET_THIS = {
    REQUESTER: "you requested this access",
    SECURITY: "you are on the security team",
    OWNER: "you own this vendor",
    APPROVERS: "the approval rules give you this decision",
}


# --- Content ------------------------------------------------------------------------------------


def send_notice_mail(subject: str, text: str, html: str, recipients: list[str]) -> int:
    """Sends one notice (text and HTML) to `recipients`; returns the number of messages sent."""
    message = EmailMultiAlternatives(
        subject=one_line(subject),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        # RFC 3834: out-of-office replies should not answer a robot.
        headers={"Auto-Submitted": "auto-generated"},
        # EMAIL_URL sets no timeout, and a hung SMTP server would hold the worker forever.
        connection=get_connection(
            timeout=getattr(settings, "EMAIL_TIMEOUT", None) or EMAIL_TIMEOUT_SECONDS
        ),
    )
    message.attach_alternative(html, "text/html")
    return message.send()


def render_email(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """The plain-text and HTML bodies of the e-mail `template` (its path without ".txt" or
    ".html"); the text's runs of blank lines, which template tags leave, folded into one."""
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    return re.sub(r"\n{3,}", "\n\n", text.strip()) + "\n", html


def absolute_url(path: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def notice_subject(access_request: AccessRequest, event: str) -> str:
    summary = NOTICES[event].summary
    return one_line(
        f"{SUBJECT_PREFIX} Request #{access_request.pk} for {access_request.vendor.name} {summary}"
    )


def notice_context(
    access_request: AccessRequest, *, event: str, actor_id: int | None, comment: str
) -> dict[str, Any]:
    """The only facts a notice may show, as plain strings."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return {
        "event": event,
        "number": access_request.pk,
        "summary": NOTICES[event].summary,
        "vendor": one_line(access_request.vendor.name),
        "strategy": str(access_request.get_strategy_display()),
        "status": str(access_request.get_status_display()),
        "risk": str(access_request.get_risk_level_display()) if access_request.risk_level else "",
        "required_approvals": access_request.required_approvals,
        "requester": access_request.requester.get_username(),
        "actor": actor.get_username() if actor else "",
        "comment": comment.strip(),
        "url": request_url(access_request.pk),
        "organization": settings.PORTAL_ORGANIZATION_NAME,
    }


def notice_recipients(access_request: AccessRequest, audience: str) -> list[str]:
    """Addresses for one audience; the requester is never among security's recipients."""
    requester = access_request.requester
    if audience == REQUESTER:
        addresses = [requester.email] if requester.is_active and requester.email else []
    elif audience == OWNER:
        owner = access_request.vendor.internal_owner
        addresses = [owner.email] if owner.is_active and owner.email else []
    else:
        # Approvers whom nobody may still be (a group with no member left) fall back to the
        # security team, so a reminder is never sent to no one.
        addresses = (approver_addresses(access_request) if audience == APPROVERS else []) or (
            list(settings.PORTAL_NOTIFY_SECURITY_EMAILS)
            or list(
                get_user_model()
                .objects.filter(is_active=True, groups__name=Role.SECURITY)
                .exclude(email="")
                .exclude(pk=requester.pk)
                .order_by("email")
                .values_list("email", flat=True)
                .distinct()
            )
        )
    seen: set[str] = set()
    result = []
    for address in addresses:
        key = address.strip().lower()
        if not key or key in seen:
            continue
        # A requester on the security team, or named in the alias list, already gets their own
        # notice or caused the event.
        if audience in (SECURITY, APPROVERS) and key == requester.email.strip().lower():
            continue
        seen.add(key)
        result.append(address.strip())
    return result


def approver_addresses(access_request: AccessRequest) -> list[str]:
    """The addresses of those who may still approve the request's waiting decision (the
    request, or its pending extension ask) under the rules in force; none when nothing waits."""
    if access_request.status == AccessRequest.Status.SUBMITTED:
        standing = rules.request_standing(access_request, with_candidates=True)
    elif access_request.extension_until is not None:
        standing = rules.extension_standing(access_request, with_candidates=True)
    else:
        return []
    usernames = {name for row in standing.rows if not row.met for name in row.can_still_approve}
    return list(
        get_user_model()
        .objects.filter(is_active=True, username__in=usernames)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )


def slack_escape(text: str) -> str:
    """Escapes the three characters Slack's mrkdwn treats as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(context: dict[str, Any]) -> str:
    """The Slack message: one headline, the facts, the comment quoted, the link."""
    e = slack_escape
    headline = f"*Request #{context['number']} for {e(context['vendor'])} {context['summary']}*"
    if context["actor"]:
        headline += f" by {e(context['actor'])}"
    facts = [
        f"Strategy: {e(context['strategy'])}",
        f"Status: {e(context['status'])}",
    ]
    if context["risk"]:
        facts.append(f"Risk: {e(context['risk'])}")
    facts.append(f"Requested by {e(context['requester'])}")
    lines = [one_line(headline), " · ".join(facts)]
    if context["comment"]:
        lines.extend("> " + e(line) for line in context["comment"].splitlines())
    lines.append(f"<{context['url']}|Open request #{context['number']}>")
    return "\n".join(lines)


def slack_post(text: str, what: str) -> bool:
    """Posts `text` to the Slack webhook; True when Slack accepted it, False when none is set
    up or Slack refused it (`what` names the notice in the log).

    Raises SlackDeliveryError on a network error, a timeout, 408, 429 or a 5xx answer, so the
    task retries. Other answers (a revoked webhook answers 403/404) will not improve with
    retries: they are logged and dropped. Neither the log nor the error contains the URL,
    which embeds the webhook's token.
    """
    url = settings.PORTAL_SLACK_WEBHOOK_URL
    if not url:
        return False
    if not webhook_url_allowed(url):
        logger.error("PORTAL_SLACK_WEBHOOK_URL is not an https URL: no Slack notice sent.")
        return False
    try:
        webhook_post(url, text)
    except SlackRefused as exc:
        logger.error("Slack refused %s: HTTP %s.", what, exc.status)
        return False
    return True


# --- Delivery (called by the tasks) -------------------------------------------------------------


def _load(access_request_id: int, event: str) -> AccessRequest | None:
    if event not in NOTICES:
        logger.warning("Unknown notification event %r: nothing sent.", event)
        return None
    access_request = (
        AccessRequest.objects.select_related("vendor__internal_owner", "requester")
        .filter(pk=access_request_id)
        .first()
    )
    if access_request is None:
        logger.warning("Request #%s no longer exists: no %r notice.", access_request_id, event)
    return access_request


def notice_email_send(
    *,
    access_request_id: int,
    event: str,
    audience: str,
    actor_id: int | None = None,
    comment: str = "",
) -> int:
    """E-mails one audience the notice for `event`; returns the number of messages sent.

    Raises the mail backend's error (SMTPException, OSError) so the task retries.
    """
    access_request = _load(access_request_id, event)
    if access_request is None or audience not in AUDIENCES:
        return 0
    recipients = notice_recipients(access_request, audience)
    if not recipients:
        logger.info(
            "No %s address for the %r notice of request #%s.", audience, event, access_request.pk
        )
        return 0
    context = notice_context(access_request, event=event, actor_id=actor_id, comment=comment)
    context["why"] = WHY_YOU_GET_THIS[audience]
    text, html = render_email(f"approvals/email/{event}", context)
    return send_notice_mail(notice_subject(access_request, event), text, html, recipients)


def notice_slack_send(
    *, access_request_id: int, event: str, actor_id: int | None = None, comment: str = ""
) -> bool:
    """Posts the notice for `event` to the Slack webhook; True when Slack accepted it (see
    `slack_post` for what is retried)."""
    if not settings.PORTAL_SLACK_WEBHOOK_URL:
        return False
    access_request = _load(access_request_id, event)
    if access_request is None:
        return False
    context = notice_context(access_request, event=event, actor_id=actor_id, comment=comment)
    return slack_post(slack_text(context), f"the {event!r} notice of request #{access_request.pk}")


# --- A proposed change of who receives a vendor's access keys ---------------------------------


def masked_email(address: str) -> str:
    """k***@orbit.example: enough for the recipient until now to recognise a stranger's
    address, without handing it out."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def _security_addresses(exclude: str = "") -> list[str]:
    if settings.PORTAL_NOTIFY_SECURITY_EMAILS:
        addresses = list(settings.PORTAL_NOTIFY_SECURITY_EMAILS)
    else:
        addresses = list(
            get_user_model()
            .objects.filter(is_active=True, groups__name=Role.SECURITY)
            .exclude(email="")
            .order_by("email")
            .values_list("email", flat=True)
            .distinct()
        )
    seen = {exclude.strip().lower()} if exclude.strip() else set()
    result = []
    for address in addresses:
        key = address.strip().lower()
        if key and key not in seen:
            seen.add(key)
            result.append(address.strip())
    return result


def key_recipient_notice_send(*, change_id: int, audience: str) -> int:
    """E-mails one audience the notice of a proposed key recipient change; returns the
    number of messages sent. The proposer is never among security's recipients."""

    change = (
        KeyRecipientChange.objects.select_related("vendor", "proposed_by")
        .filter(pk=change_id)
        .first()
    )
    if change is None or audience not in KEY_RECIPIENT_AUDIENCES:
        return 0
    if audience == PREVIOUS_CONTACT:
        recipients = [change.previous_email] if change.previous_email else []
    else:
        recipients = _security_addresses(exclude=change.proposed_by.email)
    if not recipients:
        return 0
    context = {
        "organization": settings.PORTAL_ORGANIZATION_NAME,
        "vendor": one_line(change.vendor.name),
        "proposed_by": change.proposed_by.get_username(),
        "for_security": audience == SECURITY,
        # The recipient until now sees only a masked address; security sees it in full.
        "email": change.email if audience == SECURITY else masked_email(change.email),
        "previous_email": change.previous_email,
        "url": vendor_url(change.vendor_id),
    }
    text, html = render_email("approvals/email/key_recipient_change", context)
    subject = f"{SUBJECT_PREFIX} Change of who receives access keys for {change.vendor.name}"
    return send_notice_mail(subject, text, html, recipients)


def key_recipient_slack_send(*, change_id: int) -> bool:
    """Posts security's notice of a proposed key recipient change to Slack. The channel is
    wider than security's mailbox, so it names no address: the vendor page shows them."""
    if not settings.PORTAL_SLACK_WEBHOOK_URL:
        return False
    change = (
        KeyRecipientChange.objects.select_related("vendor", "proposed_by")
        .filter(pk=change_id)
        .first()
    )
    if change is None:
        return False
    e = slack_escape
    text = "\n".join(
        [
            one_line(
                f"*Change of who receives access keys for {e(change.vendor.name)}* proposed by "
                f"{e(change.proposed_by.get_username())}"
            ),
            "No key link goes out until another member of the security team confirms or "
            "rejects it.",
            f"<{vendor_url(change.vendor_id)}|Open the vendor page>",
        ]
    )
    return slack_post(text, f"the notice of key recipient change #{change.pk}")


def external_access_notice_send(*, count: int) -> int:
    """E-mails security that the scan found `count` new outside principals nobody approved;
    returns the number of messages sent. Like every notice it names no principal, account or
    role: the findings page shows them to people allowed to see them."""
    recipients = _security_addresses()
    if count <= 0 or not recipients:
        return 0
    context = {
        "organization": settings.PORTAL_ORGANIZATION_NAME,
        "count": int(count),
        "url": absolute_url(reverse("verification:findings")),
    }
    text, html = render_email("notifications/external_access", context)
    return send_notice_mail(_external_access_headline(count), text, html, recipients)


def _external_access_headline(count: int) -> str:
    return f"{SUBJECT_PREFIX} {int(count)} vendor access finding(s) nobody approved in AWS"


def external_access_slack_send(*, count: int) -> bool:
    """Posts security's notice of `count` new findings to Slack: a number and a link, never a
    principal, account or role."""
    if count <= 0 or not settings.PORTAL_SLACK_WEBHOOK_URL:
        return False
    text = "\n".join(
        [
            f"*{int(count)} vendor access finding(s) nobody approved in AWS*",
            "Adopt each one (a request for review and approval) or acknowledge it with a reason.",
            f"<{absolute_url(reverse('verification:findings'))}|Open the findings>",
        ]
    )
    return slack_post(text, "the external access notice")


# --- A vendor's own events (its reviews) -------------------------------------------------------

# The only facts a vendor notice may add to its vendor, summary, actor and comment, all plain
# strings chosen by the caller: a review's decision and conditions, a due date.
VENDOR_NOTICE_EXTRAS = ("decision", "conditions", "due")


def vendor_url(vendor_id: int) -> str:
    return absolute_url(reverse("vendors:detail", kwargs={"pk": vendor_id}))


def _load_vendor(vendor_id: int, event: str) -> Vendor | None:
    if event not in VENDOR_NOTICES:
        logger.warning("Unknown vendor notification event %r: nothing sent.", event)
        return None
    vendor = Vendor.objects.select_related("internal_owner").filter(pk=vendor_id).first()
    if vendor is None:
        logger.warning("Vendor #%s no longer exists: no %r notice.", vendor_id, event)
    return vendor


def vendor_notice_context(
    vendor: Vendor,
    *,
    event: str,
    actor_id: int | None,
    comment: str,
    extra: dict[str, str] | None,
) -> dict[str, Any]:
    """The only facts a vendor notice may show, as plain strings."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    extra = extra or {}
    context: dict[str, Any] = {
        "event": event,
        "summary": VENDOR_NOTICES[event].summary,
        "vendor": one_line(vendor.name),
        "owner": vendor.internal_owner.get_username(),
        "actor": actor.get_username() if actor else "",
        "comment": (comment or "").strip(),
        "url": vendor_url(vendor.pk),
        "organization": settings.PORTAL_ORGANIZATION_NAME,
    }
    for key in VENDOR_NOTICE_EXTRAS:
        context[key] = str(extra.get(key, "")).strip()
    return context


def vendor_headline(context: dict[str, Any]) -> str:
    """ "Orbit CI had its review decided: Rejected", "Orbit CI has its next review due on
    2027-01-04": the subject, the heading and Slack's first line."""
    headline = f"{context['vendor']} {context['summary']}"
    if context["decision"]:
        headline += f": {context['decision']}"
    if context["due"]:
        headline += f" on {context['due']}"
    return one_line(headline)


def vendor_notice_recipients(vendor: Vendor, audience: str) -> list[str]:
    """Addresses for one audience of a vendor notice; an owner on the security team gets the
    owner's notice only."""
    owner = vendor.internal_owner
    owner_address = owner.email.strip() if owner.is_active and owner.email else ""
    if audience == OWNER:
        return [owner_address] if owner_address else []
    if audience == SECURITY:
        return _security_addresses(exclude=owner_address)
    return []


def vendor_notice_email_send(
    *,
    vendor_id: int,
    event: str,
    audience: str,
    actor_id: int | None = None,
    comment: str = "",
    extra: dict[str, str] | None = None,
) -> int:
    """E-mails one audience the vendor notice for `event`; returns the number of messages
    sent. Raises the mail backend's error (SMTPException, OSError) so the task retries."""
    vendor = _load_vendor(vendor_id, event)
    if vendor is None or audience not in VENDOR_NOTICES[event].audiences:
        return 0
    recipients = vendor_notice_recipients(vendor, audience)
    if not recipients:
        logger.info("No %s address for the %r notice of vendor #%s.", audience, event, vendor.pk)
        return 0
    context = vendor_notice_context(
        vendor, event=event, actor_id=actor_id, comment=comment, extra=extra
    )
    context["why"] = WHY_YOU_GET_THIS[audience]
    context["headline"] = vendor_headline(context)
    text, html = render_email(f"vendors/email/{event}", context)
    return send_notice_mail(f"{SUBJECT_PREFIX} {context['headline']}", text, html, recipients)


def vendor_notice_slack_text(context: dict[str, Any]) -> str:
    e = slack_escape
    headline = f"*{e(vendor_headline(context))}*"
    if context["actor"]:
        headline += f" by {e(context['actor'])}"
    lines = [one_line(headline), f"Owner: {e(context['owner'])}"]
    if context["conditions"]:
        lines.append("Conditions:")
        lines.extend("> " + e(line) for line in context["conditions"].splitlines())
    if context["comment"]:
        lines.extend("> " + e(line) for line in context["comment"].splitlines())
    lines.append(f"<{context['url']}|Open {e(context['vendor'])}>")
    return "\n".join(lines)


def vendor_notice_slack_send(
    *,
    vendor_id: int,
    event: str,
    actor_id: int | None = None,
    comment: str = "",
    extra: dict[str, str] | None = None,
) -> bool:
    """Posts the vendor notice for `event` to Slack; True when Slack accepted it."""
    if not settings.PORTAL_SLACK_WEBHOOK_URL:
        return False
    vendor = _load_vendor(vendor_id, event)
    if vendor is None:
        return False
    context = vendor_notice_context(
        vendor, event=event, actor_id=actor_id, comment=comment, extra=extra
    )
    return slack_post(
        vendor_notice_slack_text(context), f"the {event!r} notice of vendor #{vendor.pk}"
    )
