"""Group membership from SSO: the identity provider's groups claim sets the managed groups.

The sign-in tests go through a real OpenID Connect provider on loopback (`oidc_provider_mock`),
whose users carry any claim we give them, "groups" included.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import oidc_provider_mock
import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from accessportal.config import Config
from accessportal.roles import Role, require_verified_security, user_roles
from audit.models import AuditEvent
from tests.processes import ROOT
from web.sso import sso_claims, sso_groups_sync, sso_groups_wanted

GROUP_MAP = {"okta-secops": ["security", "security-leads"], "okta-audit": ["auditors"]}
SUB = "dana@example.com"


def _groups(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def _synced_events(user) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action="user.groups_synced", object_id=str(user.pk)).order_by(
            "sequence"
        )
    )


@pytest.fixture
def oidc_server(settings):
    settings.PORTAL_SSO_GROUP_MAP = GROUP_MAP
    settings.PORTAL_SSO_GROUPS_CLAIM = "groups"
    with oidc_provider_mock.run_server_in_thread() as server:
        url = f"http://localhost:{server.server_port}"
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "OAUTH_PKCE_ENABLED": True,
                "APPS": [
                    {
                        "provider_id": "corp",
                        "name": "Corp SSO",
                        "client_id": "portal",
                        "secret": "portal-secret",
                        "settings": {"server_url": url},
                    }
                ],
            }
        }
        yield url


def _sso_sign_in(client, server: str, claims: dict[str, Any]) -> None:
    """Signs `client` in as SUB, whom the provider knows with `claims` from now on."""
    stored = requests.put(f"{server}/users/{SUB}", json={"email": SUB, **claims}, timeout=10)
    assert stored.status_code == 204
    client.logout()
    start = client.post("/accounts/oidc/corp/login/")
    assert start.status_code == 302
    answer = requests.post(start["Location"], data={"sub": SUB}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    callback = urlsplit(answer.headers["Location"])
    assert "code" in parse_qs(callback.query)
    done = client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 302


@pytest.mark.django_db
def test_sso_groups_follow_the_provider_at_each_sign_in(client, oidc_server):
    _sso_sign_in(client, oidc_server, {"groups": ["okta-secops", "okta-unmapped"]})
    user = get_user_model().objects.get(socialaccount__uid=SUB)
    assert int(client.session["_auth_user_id"]) == user.pk
    assert _groups(user) == {"requesters", "security", "security-leads"}
    assert user_roles(user) == {Role.REQUESTERS, Role.SECURITY}
    (first,) = _synced_events(user)
    assert first.before == {"groups": ["requesters"]}
    assert first.after == {"groups": ["requesters", "security", "security-leads"]}
    assert first.actor_id is None

    # A group given by hand in the admin is not the provider's to take away.
    user.groups.add(Group.objects.create(name="legacy-approvers"))

    _sso_sign_in(client, oidc_server, {"groups": ["okta-audit"]})
    assert int(client.session["_auth_user_id"]) == user.pk
    assert _groups(user) == {"requesters", "legacy-approvers", "auditors"}
    second = _synced_events(user)[-1]
    assert second.before == {
        "groups": ["legacy-approvers", "requesters", "security", "security-leads"]
    }
    assert second.after == {"groups": ["auditors", "legacy-approvers", "requesters"]}

    # Gone from every provider group: the managed groups go, the hand-given one stays.
    _sso_sign_in(client, oidc_server, {"groups": []})
    assert _groups(user) == {"requesters", "legacy-approvers"}
    assert len(_synced_events(user)) == 3

    # The same groups again change nothing and record nothing.
    _sso_sign_in(client, oidc_server, {"groups": []})
    assert len(_synced_events(user)) == 3


@pytest.mark.django_db
def test_without_a_map_sso_leaves_groups_alone(client, oidc_server, settings):
    settings.PORTAL_SSO_GROUP_MAP = {}
    _sso_sign_in(client, oidc_server, {"groups": ["okta-secops"]})
    user = get_user_model().objects.get(socialaccount__uid=SUB)
    assert _groups(user) == {"requesters"}
    user.groups.add(Group.objects.get_or_create(name="security")[0])
    _sso_sign_in(client, oidc_server, {"groups": []})
    assert _groups(user) == {"requesters", "security"}
    assert _synced_events(user) == []


@pytest.mark.django_db
def test_a_security_role_from_sso_still_needs_the_second_factor(make_user, settings):
    settings.PORTAL_SSO_GROUP_MAP = GROUP_MAP
    user = make_user("erin")
    assert user_roles(user) == {Role.REQUESTERS}  # cached on the user object
    assert sso_groups_sync(user=user, claims={"groups": ["okta-secops"]})
    assert user_roles(user) == {Role.REQUESTERS, Role.SECURITY}  # the cache was cleared
    with pytest.raises(PermissionDenied):
        require_verified_security(user, mfa_verified=False)
    require_verified_security(user, mfa_verified=True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("claims", "described"),
    [
        ({}, "missing"),
        ({"groups": "okta-secops"}, "a str, not a list of strings"),
        ({"groups": ["okta-secops", 7]}, "a list, not a list of strings"),
    ],
)
def test_an_unreadable_claim_gives_no_managed_group(make_user, settings, caplog, claims, described):
    settings.PORTAL_SSO_GROUP_MAP = GROUP_MAP
    user = make_user("erin")
    user.groups.add(
        Group.objects.get_or_create(name="security")[0], Group.objects.create(name="hand-given")
    )
    with caplog.at_level(logging.WARNING, logger="web.sso"):
        assert sso_groups_sync(user=user, claims=claims)
    assert _groups(user) == {"requesters", "hand-given"}
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert described in warning.getMessage()
    assert "okta-secops" not in caplog.text  # the claim's content is not logged


@pytest.mark.django_db
def test_a_claim_name_from_the_settings_is_read(make_user, settings):
    settings.PORTAL_SSO_GROUP_MAP = GROUP_MAP
    settings.PORTAL_SSO_GROUPS_CLAIM = "https://example.com/claims/groups"
    user = make_user("erin")
    sso_groups_sync(
        user=user, claims={"groups": [], "https://example.com/claims/groups": ["okta-audit"]}
    )
    assert _groups(user) == {"requesters", "auditors"}


@pytest.mark.pure
def test_claims_merge_the_id_token_under_the_userinfo():
    extra_data = {
        "id_token": {"sub": "x", "groups": ["from-token"], "aud": "portal"},
        "userinfo": {"sub": "x", "groups": ["from-userinfo"]},
    }
    assert sso_claims(extra_data) == {"sub": "x", "groups": ["from-userinfo"], "aud": "portal"}
    assert sso_claims({"id_token": {"groups": ["g"]}}) == {"groups": ["g"]}
    assert sso_claims({"sub": "old", "groups": ["g"]}) == {"sub": "old", "groups": ["g"]}


@pytest.mark.pure
def test_only_mapped_provider_groups_give_portal_groups():
    wanted = sso_groups_wanted(
        {"groups": ["okta-secops", "okta-else"]}, group_map=GROUP_MAP, claim="groups"
    )
    assert wanted == {"security", "security-leads"}


@pytest.mark.pure
def test_a_valid_map_is_read():
    config = Config({"PORTAL_SSO_GROUP_MAP": ' {"okta-secops": ["security", "security-leads"]} '})
    assert config.sso_group_map("PORTAL_SSO_GROUP_MAP") == {
        "okta-secops": ["security", "security-leads"]
    }
    assert config.errors == []
    assert Config({}).sso_group_map("PORTAL_SSO_GROUP_MAP") == {}


@pytest.mark.pure
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"okta-secops": ["security"', "PORTAL_SSO_GROUP_MAP is not valid JSON"),
        ('["security"]', "PORTAL_SSO_GROUP_MAP must be a JSON object"),
        ('{"okta-secops": "security"}', "'okta-secops' must map to a list of group names"),
        ('{"okta-secops": [1]}', "'okta-secops' must map to a list of group names"),
        ('{"okta-secops": ["sec ops"]}', "maps to 'sec ops', which is not a group name"),
        ('{"okta-secops": ["' + "x" * 151 + '"]}', "which is not a group name"),
        ('{"okta-secops": [""]}', "maps to '', which is not a group name"),
        ('{"okta-secops": ["-security"]}', "maps to '-security', which is not a group name"),
        ('{" ": ["security"]}', "an identity-provider group name is empty"),
        ('{"okta-all": ["requesters"]}', "maps to 'requesters', which every user has already"),
    ],
)
def test_a_bad_map_is_a_configuration_error(value, message):
    config = Config({"PORTAL_SSO_GROUP_MAP": value})
    assert config.sso_group_map("PORTAL_SSO_GROUP_MAP") == {}
    assert len(config.errors) == 1
    assert message in config.errors[0]


def test_a_bad_map_stops_start_up_naming_it(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["PORTAL_VAR_DIR"] = str(tmp_path / "var")
    env["PORTAL_SSO_GROUP_MAP"] = '{"okta-secops": ["security; drop"]}'
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "PORTAL_SSO_GROUP_MAP: 'okta-secops' maps to 'security; drop'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.pure
@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_the_operator_docs_name_both_variables(document):
    text = (ROOT / document).read_text(encoding="utf-8")
    for name in ("PORTAL_SSO_GROUPS_CLAIM", "PORTAL_SSO_GROUP_MAP"):
        assert name in text
    example = next(
        line.split("PORTAL_SSO_GROUP_MAP=", 1)[1]
        for line in text.splitlines()
        if "PORTAL_SSO_GROUP_MAP={" in line
    )
    config = Config({"PORTAL_SSO_GROUP_MAP": example})
    assert config.sso_group_map("PORTAL_SSO_GROUP_MAP") == GROUP_MAP
    assert config.errors == []
