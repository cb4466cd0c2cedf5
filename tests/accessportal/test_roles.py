"""Roles: groups made by the data migration, and every user a requester."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accessportal.roles import Role, has_role, user_roles

pytestmark = pytest.mark.django_db


def test_migration_creates_the_three_role_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "requesters",
        "security",
        "auditors",
    }


def test_every_new_user_is_a_requester_whatever_creates_it():
    plain = get_user_model().objects.create_user("plain", password="x")
    superuser = get_user_model().objects.create_superuser("root", password="x")
    for user in (plain, superuser):
        assert user.groups.filter(name=Role.REQUESTERS).exists()
        assert user_roles(user) == {"requesters"}


def test_has_role_reads_group_membership(make_user):
    security = make_user("sec", Role.SECURITY)
    auditor = make_user("aud", Role.AUDITORS)
    assert has_role(security, Role.SECURITY)
    assert not has_role(security, Role.AUDITORS)
    assert has_role(auditor, Role.AUDITORS, Role.SECURITY)
    assert not has_role(auditor, Role.SECURITY)


def test_inactive_and_anonymous_users_hold_no_role(make_user):
    from django.contrib.auth.models import AnonymousUser

    inactive = make_user("gone", Role.SECURITY, is_active=False)
    assert user_roles(inactive) == frozenset()
    assert user_roles(AnonymousUser()) == frozenset()
