"""Access key pages: the vendor's one-time link (public) and security's re-issue action.

The link is reached without signing in: its token is the credential. A GET only shows a
confirmation page (mail scanners prefetch links; a GET must not consume anything); the POST
reveals the key once. An unknown, used or expired token, or too many requests from one
address, all get the same neutral page, so the answer tells nothing about which it was.
Responses are never cached and send no referrer; the reveal page loads nothing but the
portal's own stylesheet and its copy-button script.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accessportal.client_ip import client_ip
from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, role_required
from approvals.selectors import request_visible_to
from keys import services as keys
from keys.selectors import access_keys_state

NEUTRAL_STATUS = 404


def _private(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)  # no-cache, no-store, must-revalidate, private
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _rate_limited(request: HttpRequest) -> bool:
    """Counts this address's link requests in the cache; True past PORTAL_KEY_LINK_RATE per
    window (guessing a 43-character token is hopeless, but nobody gets to try quickly)."""
    key = f"key-link-rate:{client_ip(request) or 'unknown'}"
    window = settings.PORTAL_KEY_LINK_RATE_WINDOW_SECONDS
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    return count > settings.PORTAL_KEY_LINK_RATE


def _neutral(request: HttpRequest, status: int = NEUTRAL_STATUS) -> HttpResponse:
    return _private(render(request, "approvals/key_link_neutral.html", status=status))


# No CSRF check here, on purpose: the token in the URL is the only credential (no session or
# cookie lends the request any authority, so a forged cross-site POST needs the token, and
# whoever has it can reveal the key directly). And with `Referrer-Policy: no-referrer`
# browsers send `Origin: null` with the form's POST, which Django's CSRF check refuses.
@csrf_exempt
@sensitive_variables()  # error reports (ADMINS e-mails) show none of this frame's locals
@require_http_methods(["GET", "POST"])
def key_link(request: HttpRequest, token: str) -> HttpResponse:
    if _rate_limited(request):
        return _neutral(request, status=429)
    if request.method == "GET":
        if not keys.key_link_valid(token=token):
            return _neutral(request)
        return _private(render(request, "approvals/key_link_confirm.html", {"token": token}))
    revealed = keys.key_link_reveal(token=token)
    if revealed is None:
        return _neutral(request)
    return _private(
        render(
            request,
            "approvals/key_link_reveal.html",
            {
                "access_key_id": revealed.access_key_id,
                # The only place the plaintext leaves the Secret: this one response.
                "secret_access_key": revealed.secret.reveal(),
                "user_name": revealed.user_name,
                "region": revealed.region,
                "role_arns": revealed.role_arns,
            },
        )
    )


@require_POST
@role_required(Role.SECURITY, write=True)
def request_key_reissue(request: HttpRequest, pk: int) -> HttpResponse:
    request_visible_to(pk, request.user)
    try:
        keys.access_key_reissue(
            request_id=pk, actor=request.user, mfa_verified=session_mfa_verified(request)
        )
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text or _("You may not do this."))
    else:
        messages.success(
            request,
            _("Re-issue queued: the old key is deleted and a new one-time link is e-mailed."),
        )
    return redirect("approvals:request_detail", pk=pk)


@require_GET
@role_required()
def request_key_state(request: HttpRequest, pk: int) -> JsonResponse:
    access_request = request_visible_to(pk, request.user)
    return JsonResponse(access_keys_state(access_request))


urlpatterns = [
    path("keys/<str:token>/", key_link, name="key_link"),
    path("requests/<int:pk>/key/reissue/", request_key_reissue, name="request_key_reissue"),
    path("requests/<int:pk>/key/state/", request_key_state, name="request_key_state"),
]
