"""Receivers that keep role membership true whatever path created the user.

Users arrive by SSO, by the admin, by `createsuperuser` or by demo seeding; each must be a
requester, so the rule lives on the model's creation rather than in each of those paths.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models.signals import post_save
from django.dispatch import receiver

from accessportal.roles import Role


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _new_users_are_requesters(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        group, _ = Group.objects.get_or_create(name=Role.REQUESTERS)
        instance.groups.add(group)
