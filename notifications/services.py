"""Notices about access requests: e-mail (plain text and HTML) and an optional Slack post.

Services call `notify_on_commit` inside their transaction. After the commit, one Celery task per
channel and audience (`notifications.tasks`) reloads the request and calls
`notice_email_send` or `notice_slack_send`. A rolled-back transition sends nothing, and a broken
mail server or Slack never blocks a transition.

Notices stay minimal (issue 5, DESIGN.md section 6): vendor, strategy, status, risk, who asked,
who decided and the decision's comment, and a link to the request. Never the external id,
principals, policies, accounts or error details: the request page shows those to people who
are allowed to see them. Templates receive plain strings chosen here, not the request object,
so a later template edit cannot leak a field by accident.
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
    AUDIENCES,
    KEY_RECIPIENT_AUDIENCES,
    NOTICES,
    OWNER,
    PREVIOUS_CONTACT,
    REQUESTER,
    SECURITY,
)
from accessportal.roles import Role
from approvals.models import AccessRequest
from approvals.requests import request_url
from provisioning.slack import SlackRefused, webhook_post, webhook_url_allowed
from provisioning.text import one_line
from vendors.models import KeyRecipientChange

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "[Vendor access]"
EMAIL_TIMEOUT_SECONDS = 30


WHY_YOU_GET_THIS = {
    REQUESTER: "you requested this access",
    SECURITY: "you are on the security team",
    OWNER: "you own this vendor",
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
    elif settings.PORTAL_NOTIFY_SECURITY_EMAILS:
        addresses = list(settings.PORTAL_NOTIFY_SECURITY_EMAILS)
    else:
        addresses = list(
            get_user_model()
            .objects.filter(is_active=True, groups__name=Role.SECURITY)
            .exclude(email="")
            .exclude(pk=requester.pk)
            .order_by("email")
            .values_list("email", flat=True)
            .distinct()
        )
    seen: set[str] = set()
    result = []
    for address in addresses:
        key = address.strip().lower()
        if not key or key in seen:
            continue
        # A requester on the security team, or named in the alias list, already gets their own
        # notice or caused the event.
        if audience == SECURITY and key == requester.email.strip().lower():
            continue
        seen.add(key)
        result.append(address.strip())
    return result


def _email_bodies(event: str, context: dict[str, Any]) -> tuple[str, str]:
    rendered = render_to_string(f"approvals/email/{event}.txt", context)
    text = re.sub(r"\n{3,}", "\n\n", rendered.strip()) + "\n"
    html = render_to_string(f"approvals/email/{event}.html", context)
    return text, html


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
    text, html = _email_bodies(event, context)
    return send_notice_mail(notice_subject(access_request, event), text, html, recipients)


def notice_slack_send(
    *, access_request_id: int, event: str, actor_id: int | None = None, comment: str = ""
) -> bool:
    """Posts the notice for `event` to the Slack webhook; True when Slack accepted it.

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
    access_request = _load(access_request_id, event)
    if access_request is None:
        return False
    context = notice_context(access_request, event=event, actor_id=actor_id, comment=comment)
    try:
        webhook_post(url, slack_text(context))
    except SlackRefused as exc:
        logger.error(
            "Slack refused the %r notice of request #%s: HTTP %s.",
            event,
            access_request.pk,
            exc.status,
        )
        return False
    return True


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
    vendor_path = reverse("vendors:detail", kwargs={"pk": change.vendor_id})
    context = {
        "organization": settings.PORTAL_ORGANIZATION_NAME,
        "vendor": one_line(change.vendor.name),
        "proposed_by": change.proposed_by.get_username(),
        "for_security": audience == SECURITY,
        # The recipient until now sees only a masked address; security sees it in full.
        "email": change.email if audience == SECURITY else masked_email(change.email),
        "previous_email": change.previous_email,
        "url": settings.PORTAL_BASE_URL.rstrip("/") + vendor_path,
    }
    text = render_to_string("approvals/email/key_recipient_change.txt", context)
    html = render_to_string("approvals/email/key_recipient_change.html", context)
    subject = f"{SUBJECT_PREFIX} Change of who receives access keys for {change.vendor.name}"
    body = re.sub(r"\n{3,}", "\n\n", text.strip()) + "\n"
    return send_notice_mail(subject, body, html, recipients)


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
        "url": settings.PORTAL_BASE_URL.rstrip("/") + reverse("verification:findings"),
    }
    text = render_to_string("notifications/external_access.txt", context)
    html = render_to_string("notifications/external_access.html", context)
    subject = f"{SUBJECT_PREFIX} {int(count)} vendor access finding(s) nobody approved in AWS"
    body = re.sub(r"\n{3,}", "\n\n", text.strip()) + "\n"
    return send_notice_mail(subject, body, html, recipients)
