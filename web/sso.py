"""Group membership from SSO: the identity provider says who is in which portal group.

`PORTAL_SSO_GROUP_MAP` maps identity-provider groups (listed in the `PORTAL_SSO_GROUPS_CLAIM`
claim, "groups" by default) to portal groups: the roles (`security`, `auditors`) and the approver
groups approval rules name. The groups the map names are *managed*: at each SSO sign-in the
person's membership in them is set to exactly what the claim maps to, so leaving a group at the
provider takes the portal group away at the next sign-in. Groups the map does not name (given by
hand in the admin) are left alone; with no map nothing changes.

It lives with the pages, at the top of the stack, because a change of membership is audited
(the audit app sits above accessportal) and the sign-in adapter that calls it is the web's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.http import HttpRequest

from accessportal.adapters import PortalSocialAccountAdapter
from audit.services import audit_record

logger = logging.getLogger(__name__)

ACTION = "user.groups_synced"


def sso_claims(extra_data: Mapping[str, Any]) -> dict[str, Any]:
    """The claims of an allauth OpenID Connect login's `extra_data`: the ID token's, with the
    userinfo response's over them (allauth keeps both; a provider may put groups in either).
    Logins stored before allauth 65.11 kept the userinfo claims at the top level."""
    id_token = extra_data.get("id_token")
    userinfo = extra_data.get("userinfo")
    if not isinstance(id_token, Mapping) and not isinstance(userinfo, Mapping):
        return dict(extra_data)
    claims: dict[str, Any] = {}
    for part in (id_token, userinfo):
        if isinstance(part, Mapping):
            claims.update(part)
    return claims


def sso_groups_managed(group_map: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Every portal group the map can give: the ones SSO owns."""
    return frozenset(group for groups in group_map.values() for group in groups)


def sso_groups_wanted(
    claims: Mapping[str, Any], *, group_map: Mapping[str, Iterable[str]], claim: str
) -> frozenset[str]:
    """The portal groups the claims give. A missing claim, or one that is not a list of strings,
    gives none: the person keeps no managed group on a claim the portal cannot read. The log
    line says so without the claim's content (group names can say more than they should)."""
    value = claims.get(claim)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        logger.warning(
            "SSO sign-in: the %r claim is %s, so no managed group is given.",
            claim,
            "missing" if value is None else f"a {type(value).__name__}, not a list of strings",
        )
        return frozenset()
    return frozenset(group for idp_group in value for group in group_map.get(idp_group, ()))


@transaction.atomic
def sso_groups_sync(*, user: AbstractBaseUser, claims: Mapping[str, Any]) -> bool:
    """Sets `user`'s membership in the managed groups to what `claims` give, creating a missing
    group; groups outside the map are untouched. Writes one `user.groups_synced` audit row when
    something changed, and returns whether it did. A no-op when `PORTAL_SSO_GROUP_MAP` is empty.
    """
    group_map: Mapping[str, list[str]] = settings.PORTAL_SSO_GROUP_MAP
    managed = sso_groups_managed(group_map)
    if not managed:
        return False
    wanted = sso_groups_wanted(claims, group_map=group_map, claim=settings.PORTAL_SSO_GROUPS_CLAIM)
    # Two sign-ins of one person at once must not interleave their reads and writes.
    locked = get_user_model().objects.select_for_update().get(pk=user.pk)
    before = sorted(locked.groups.values_list("name", flat=True))
    held = managed & set(before)
    to_add = sorted(wanted - held)
    to_remove = sorted(held - wanted)
    if not to_add and not to_remove:
        return False
    if to_add:
        locked.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in to_add))
    if to_remove:
        locked.groups.remove(*Group.objects.filter(name__in=to_remove))
    after = sorted(locked.groups.values_list("name", flat=True))
    # The caller's user object may have cached its roles for this request (roles.user_roles).
    for instance in (user, locked):
        if hasattr(instance, "_portal_roles"):
            delattr(instance, "_portal_roles")
    audit_record(
        actor=None,  # the identity provider decided, not the person signing in
        action=ACTION,
        obj=locked,
        before={"groups": before},
        after={"groups": after},
    )
    logger.info(
        "SSO sign-in of user #%s: groups added %s, removed %s.", locked.pk, to_add, to_remove
    )
    return True


class SsoSocialAccountAdapter(PortalSocialAccountAdapter):
    """The portal's SSO adapter, with the groups set from the provider's claims at each
    sign-in (SOCIALACCOUNT_ADAPTER)."""

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        """A returning person: their groups follow the provider's claims before they are in."""
        if sociallogin.is_existing:
            sso_groups_sync(
                user=sociallogin.user, claims=sso_claims(sociallogin.account.extra_data)
            )

    def save_user(self, request: HttpRequest, sociallogin: Any, form: Any = None) -> Any:
        """A new person: created as a requester, then given the groups their claims map to."""
        user = super().save_user(request, sociallogin, form)
        sso_groups_sync(user=user, claims=sso_claims(sociallogin.account.extra_data))
        return user
