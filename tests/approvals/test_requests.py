"""Access request services and pages: drafts, per-strategy fields, checks, submit, withdraw."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from approvals import requests as services
from approvals.models import AccessRequest
from audit.models import AuditEvent
from inventory.models import AwsAccount
from tests.vendors.helpers import vendor_data

pytestmark = pytest.mark.django_db

VENDOR_ROLE = "arn:aws:iam::123456789012:role/VendorScanner"


@pytest.fixture
def accounts(db):
    rows = []
    n = 100000000000
    for domain in ("payments", "data"):
        for environment, qualities in (("staging", ["alpha"]), ("production", ["alpha", "beta"])):
            for quality in qualities:
                n += 1
                rows.append(
                    AwsAccount.objects.create(
                        account_id=str(n),
                        name=f"{domain}-{environment}-{quality}",
                        account_type="service",
                        domain=domain,
                        environment=environment,
                        quality=quality,
                        status="active",
                    )
                )
    AwsAccount.objects.create(
        account_id="999999999999", name="management", account_type="management", status="active"
    )
    AwsAccount.objects.create(
        account_id="888888888888",
        name="gone",
        account_type="service",
        domain="payments",
        environment="production",
        quality="alpha",
        status="closed",
    )
    return rows


def request_data(vendor, **overrides):
    data = {
        "vendor": vendor,
        "strategy": "role_per_account",
        "principals": VENDOR_ROLE,
        "external_id": "",
        "domains": ["payments"],
        "environments": ["*"],
        "qualities": ["*"],
        "role_name": "",
        "policy_source": "managed",
        "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "justification": "Scans our configuration nightly.",
        "expires_on": timezone.localdate() + timedelta(days=90),
    }
    return {**data, **overrides}


def test_draft_resolves_accounts_generates_external_id_and_role_name(vendor, engineer, accounts):
    r = services.request_save(actor=engineer, data=request_data(vendor))
    assert r.status == "draft"
    assert len(r.external_id) >= 40
    assert r.role_name == "OrbitCiAccess"
    ids = set(r.target_accounts.values_list("account_id", flat=True))
    assert ids == {a.account_id for a in accounts if a.domain == "payments"}
    assert "888888888888" not in ids  # closed accounts are never targets
    assert AuditEvent.objects.filter(action="request.create", object_id=str(r.pk)).exists()


def test_fields_a_strategy_does_not_use_are_dropped(vendor, engineer, accounts):
    r = services.request_save(
        actor=engineer,
        data=request_data(vendor, strategy="auditor", role_name="Ignored", domains=["data"]),
    )
    assert (r.role_name, r.target_domains, r.managed_policy_arns) == ("", [], [])
    assert r.target_accounts.count() == 0
    iam_user = services.request_save(
        actor=engineer, data=request_data(vendor, strategy="iam_user", external_id="should-vanish")
    )
    assert (iam_user.principals, iam_user.external_id) == ([], "")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"principals": "*"}, "principals"),
        ({"principals": "12345678901"}, "principals"),
        ({"principals": "1234567890123"}, "principals"),
        ({"principals": "arn:aws:iam::123:role/x"}, "principals"),
        ({"external_id": "x"}, "external_id"),
        ({"external_id": "bad id with spaces"}, "external_id"),
        ({"role_name": "Bad/Role"}, "role_name"),
        ({"managed_policy_arns": ["not-an-arn"]}, "managed_policy_arns"),
        ({"policy_source": "inline", "inline_policy": "{nope"}, "inline_policy"),
        ({"expires_on": timezone.localdate()}, "expires_on"),
        ({"expires_on": timezone.localdate() + timedelta(days=9999)}, "expires_on"),
    ],
)
def test_hostile_input_is_refused_on_its_field(vendor, engineer, accounts, overrides, field):
    with pytest.raises(ValidationError) as error:
        services.request_save(actor=engineer, data=request_data(vendor, **overrides))
    assert field in error.value.error_dict
    assert not AccessRequest.objects.exists()


def test_external_id_of_another_vendor_cannot_be_reused(vendor, engineer, accounts):
    from vendors import services as vendor_services

    first = services.request_save(actor=engineer, data=request_data(vendor))
    other = vendor_services.vendor_create(
        actor=engineer, data=vendor_data(engineer, name="Other", slug="other")
    )
    with pytest.raises(ValidationError) as error:
        services.request_save(
            actor=engineer, data=request_data(other, external_id=first.external_id)
        )
    assert "external_id" in error.value.error_dict


def test_a_role_name_held_by_another_request_is_refused(vendor, engineer, accounts):
    """A vendor's IAM-user grant and its role grant both default to the slug's role name:
    the second must choose another, or each grant's role create would overwrite the other's."""
    first = services.request_save(
        actor=engineer, data=request_data(vendor, strategy="iam_user", principals="")
    )
    second = services.request_save(actor=engineer, data=request_data(vendor))
    assert first.role_name == second.role_name == "OrbitCiAccess"  # drafts hold nothing
    services.request_submit(request_id=first.pk, actor=engineer)
    with pytest.raises(ValidationError) as error:
        services.request_submit(request_id=second.pk, actor=engineer)
    assert error.value.error_dict["role_name"][0].messages == [
        f"Request #{first.pk} already uses the role name OrbitCiAccess: choose another."
    ]
    with pytest.raises(ValidationError) as error:
        services.request_save(actor=engineer, data=request_data(vendor, role_name="orbitciaccess"))
    assert "role_name" in error.value.error_dict  # IAM role names ignore case
    renamed = services.request_save(
        actor=engineer, data=request_data(vendor, role_name="OrbitCiScan")
    )
    assert services.request_submit(request_id=renamed.pk, actor=engineer).status == "submitted"


def test_inline_policy_lint_and_admin_equivalence_raise_risk_and_quorum(vendor, engineer, accounts):
    policy = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", '
        '"Resource": "*"}]}'
    )
    r = services.request_save(
        actor=engineer, data=request_data(vendor, policy_source="inline", inline_policy=policy)
    )
    assert r.admin_equivalent is True
    assert r.risk_level == "critical"
    assert r.required_approvals == 2
    assert any(f["code"] == "PRIVILEGE_ESCALATION" for f in r.lint_findings)


def test_production_targets_raise_risk(vendor, engineer, accounts):
    staging = services.request_save(
        actor=engineer, data=request_data(vendor, environments=["staging"])
    )
    production = services.request_save(
        actor=engineer, data=request_data(vendor, environments=["production"])
    )
    order = ["low", "medium", "high", "critical"]
    assert order.index(production.risk_level) > order.index(staging.risk_level)


def test_generated_policy_comes_from_policy_sentry(vendor, engineer, accounts):
    r = services.request_save(
        actor=engineer,
        data=request_data(
            vendor,
            policy_source="generated",
            generator_service="s3",
            generator_levels=["read"],
            generator_resources="arn:aws:s3:::exports",
        ),
    )
    assert r.inline_policy is not None
    assert r.inline_policy["Statement"]
    assert r.generator_input is not None
    assert r.generator_input["service"] == "s3"


def test_submit_needs_everything_and_then_moves_to_submitted(vendor, engineer, accounts):
    draft = services.request_save(
        actor=engineer, data=request_data(vendor, justification="", domains=["nonexistent"])
    )
    with pytest.raises(ValidationError) as error:
        services.request_submit(request_id=draft.pk, actor=engineer)
    assert {"justification", "domains"} <= set(error.value.error_dict)
    ready = services.request_save(actor=engineer, data=request_data(vendor))
    submitted = services.request_submit(request_id=ready.pk, actor=engineer)
    assert submitted.status == "submitted"
    assert submitted.submitted_at is not None
    event = AuditEvent.objects.get(action="request.submit", object_id=str(ready.pk))
    assert event.before == {"status": "draft"}


def test_vendor_without_current_review_is_blocked_for_approval(vendor, engineer, accounts):
    r = services.request_save(actor=engineer, data=request_data(vendor))
    services.request_submit(request_id=r.pk, actor=engineer)
    blockers = services.approval_blockers(r)
    assert any("SOC 2 review" in b for b in blockers)


def test_withdraw_only_by_the_requester_while_pending(vendor, engineer, make_user, accounts):
    r = services.request_save(actor=engineer, data=request_data(vendor))
    with pytest.raises(PermissionDenied):
        services.request_withdraw(request_id=r.pk, actor=make_user("mallory"))
    services.request_withdraw(request_id=r.pk, actor=engineer)
    with pytest.raises(ValidationError):
        services.request_withdraw(request_id=r.pk, actor=engineer)
    assert AccessRequest.objects.get(pk=r.pk).status == "withdrawn"


def test_duplicate_copies_choices_with_a_fresh_external_id(vendor, engineer, accounts):
    r = services.request_save(actor=engineer, data=request_data(vendor))
    copy = services.request_duplicate(request_id=r.pk, actor=engineer)
    assert copy.pk != r.pk
    assert copy.status == "draft"
    assert copy.duplicated_from == r
    assert copy.external_id != r.external_id
    assert copy.principals == r.principals
    assert copy.target_accounts.count() == r.target_accounts.count()


def test_only_drafts_change_and_only_by_their_requester(vendor, engineer, make_user, accounts):
    r = services.request_save(actor=engineer, data=request_data(vendor))
    with pytest.raises(PermissionDenied):
        services.request_save(
            actor=make_user("mallory"), data=request_data(vendor), request_id=r.pk
        )
    services.request_submit(request_id=r.pk, actor=engineer)
    with pytest.raises(ValidationError):
        services.request_save(actor=engineer, data=request_data(vendor), request_id=r.pk)


def test_state_machine_refuses_undeclared_transitions(vendor, engineer, accounts):
    from approvals.workflow import transition

    r = services.request_save(actor=engineer, data=request_data(vendor))
    with pytest.raises(ValidationError, match="cannot become"):
        transition(r, to="active", actor=engineer, action="request.activate")


def test_form_page_keeps_input_and_shows_errors_beside_fields(client, vendor, engineer, accounts):
    client.force_login(engineer)
    response = client.post(
        reverse("approvals:request_new"),
        {
            "vendor": vendor.pk,
            "strategy": "role_per_account",
            "principals": "arn:aws:iam::123:role/<script>",
            "external_id": "",
            "domains": ["payments"],
            "policy_source": "managed",
            "justification": "Keep me",
            "expires_on": "2099-01-01",
        },
    )
    assert response.status_code == 400  # shown again with its errors
    html = response.content.decode()
    start = html.index('id="field-principals"')
    assert "is neither a 12-digit account id" in html[start : start + 2000]
    assert "arn:aws:iam::123:role/&lt;script&gt;" in html
    assert "Keep me" in html
    assert not AccessRequest.objects.exists()


def test_request_pages_by_role(client, vendor, engineer, make_user, accounts):
    r = services.request_save(actor=engineer, data=request_data(vendor))
    url = reverse("approvals:request_detail", kwargs={"pk": r.pk})
    client.force_login(make_user("other"))
    assert client.get(url).status_code == 403
    client.force_login(make_user("aud", "auditors"))
    assert client.get(url).status_code == 200
    assert (
        client.post(reverse("approvals:request_withdraw", kwargs={"pk": r.pk})).status_code == 403
    )
    assert client.get(reverse("approvals:request_new")).status_code == 403
    client.force_login(engineer)
    page = client.get(url).content.decode()
    assert "Blocked for approval" in page
    assert r.external_id in page


def _git_repo_of(folder):
    """Commits `folder`'s files on branch main of a new repository there."""
    import subprocess

    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "i"],
    ):
        subprocess.run(["git", *args], cwd=folder, check=True)


def test_request_page_previews_the_exact_change(client, vendor, engineer, settings, tmp_path):
    from tests.fixtures.substrate_repo import build_repo

    repo = build_repo(tmp_path / "substrate", version="2024.08")
    _git_repo_of(repo.root)
    settings.SUBSTRATE_REPO_URL = str(repo.root)
    for account in repo.accounts:
        if account.type == "service":
            AwsAccount.objects.create(
                account_id=account.id,
                name=f"{account.domain}-{account.environment}",
                account_type="service",
                domain=account.domain,
                environment=account.environment,
                quality=account.quality,
                status="active",
            )
    domain = next(a.domain for a in repo.accounts if a.type == "service")
    r = services.request_save(
        actor=engineer,
        data=request_data(vendor, domains=[domain], environments=["*"], qualities=["*"]),
    )
    assert r.preview is not None
    assert r.preview.get("error") is None, r.preview
    paths = {f["path"] for f in r.preview["files"]}
    assert "policies/orbit-ci.assume-role-policy.json" in paths
    assert any(
        c.startswith("substrate role create --role OrbitCiAccess") for c in r.preview["commands"]
    )
    client.force_login(engineer)
    page = client.get(reverse("approvals:request_detail", kwargs={"pk": r.pk})).content.decode()
    assert "policies/orbit-ci.assume-role-policy.json" in page
    assert r.external_id in page


def test_preview_reads_a_file_localhost_url(vendor, engineer, settings, tmp_path):
    from tests.fixtures.substrate_repo import build_repo

    repo = build_repo(tmp_path / "substrate", version="2024.08")
    _git_repo_of(repo.root)
    settings.SUBSTRATE_REPO_URL = f"file://localhost{repo.root}"
    for account in repo.accounts:
        if account.type == "service":
            AwsAccount.objects.create(
                account_id=account.id,
                name=f"{account.domain}-{account.environment}",
                account_type="service",
                domain=account.domain,
                environment=account.environment,
                quality=account.quality,
                status="active",
            )
    domain = next(a.domain for a in repo.accounts if a.type == "service")
    r = services.request_save(
        actor=engineer,
        data=request_data(vendor, domains=[domain], environments=["*"], qualities=["*"]),
    )
    assert r.preview is not None
    assert r.preview.get("error") is None, r.preview
    assert "policies/orbit-ci.assume-role-policy.json" in {f["path"] for f in r.preview["files"]}


def test_preview_says_why_when_the_url_is_not_supported(vendor, engineer, accounts, settings):
    settings.SUBSTRATE_REPO_URL = "file://otherhost/srv/substrate.git"
    r = services.request_save(actor=engineer, data=request_data(vendor))
    assert r.preview is not None
    assert "not readable" in r.preview["error"]
    assert "another host" in r.preview["error"]


def test_preview_says_why_when_the_repository_is_missing(
    vendor, engineer, accounts, settings, tmp_path
):
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "nowhere")
    r = services.request_save(actor=engineer, data=request_data(vendor))
    assert r.preview is not None
    assert "not readable" in r.preview["error"]


# --- Safe defaults and every error at once (issue 20) -----------------------------------------


@pytest.mark.parametrize("field", ["domains", "environments", "qualities"])
def test_nothing_ticked_is_refused_never_every_account(vendor, engineer, accounts, field):
    with pytest.raises(ValidationError) as error:
        services.request_save(actor=engineer, data=request_data(vendor, **{field: []}))
    assert error.value.message_dict[field] == [
        f"Choose the accounts: tick All or at least one {services.SELECTION_LABELS[field][0]}."
    ]
    assert not AccessRequest.objects.exists()


def test_all_with_some_values_is_refused_not_read_as_all(vendor, engineer, accounts):
    with pytest.raises(ValidationError) as error:
        services.request_save(actor=engineer, data=request_data(vendor, domains=["*", "payments"]))
    assert "untick All" in error.value.message_dict["domains"][0]
    explicit = services.request_save(actor=engineer, data=request_data(vendor, domains=["*"]))
    assert explicit.target_domains == ["*"]
    assert explicit.target_accounts.count() == len(accounts)


def test_a_strategy_without_accounts_needs_no_selection(vendor, engineer, accounts):
    r = services.request_save(
        actor=engineer, data=request_data(vendor, strategy="auditor", domains=[])
    )
    assert r.target_domains == []


def test_every_bad_principal_and_the_end_date_are_reported_together(vendor, engineer, accounts):
    bad = "123\n*\narn:aws:iam::123:role/x\n" + VENDOR_ROLE
    with pytest.raises(ValidationError) as error:
        services.request_save(
            actor=engineer,
            data=request_data(
                vendor, principals=bad, expires_on=timezone.localdate() - timedelta(days=1)
            ),
        )
    messages = error.value.message_dict
    assert len(messages["principals"]) == 3
    assert [m.split(":")[0] for m in messages["principals"][:2]] == ["'123'", "'*'"]
    assert messages["expires_on"] == ["The end date must be in the future."]


def test_the_form_shows_its_and_the_services_errors_at_once(vendor, accounts):
    from approvals.forms import AccessRequestForm

    form = AccessRequestForm(
        data={
            "vendor": vendor.pk,
            "strategy": "role_per_account",
            "principals": "123\n*",
            "domains": ["*", "payments"],
            "justification": "x" * 4001,
            "expires_on": "2000-01-01",
        }
    )
    assert not form.is_valid()
    assert set(form.errors) == {
        "principals",
        "domains",
        "environments",
        "qualities",
        "justification",
        "expires_on",
    }
    assert len(form.errors["principals"]) == 2
    assert "4001" in form.errors["justification"][0]
    # No maxlength for the browser to cut a pasted text with; the limit is in the help text.
    assert "maxlength" not in str(form["justification"])
    assert "4,000" in str(form.fields["justification"].help_text)


def test_a_refused_extension_keeps_the_date_and_says_why(client, vendor, engineer, accounts):
    r = services.request_save(actor=engineer, data=request_data(vendor))
    AccessRequest.objects.filter(pk=r.pk).update(status="active")
    client.force_login(engineer)
    assert r.expires_on is not None
    early = (r.expires_on - timedelta(days=5)).isoformat()
    response = client.post(
        reverse("approvals:request_extend", kwargs={"pk": r.pk}),
        {"until": early, "reason": "Late audit <b>"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    start = html.index('id="field-until"')
    assert "Choose a date after the current end date." in html[start : start + 1500]
    assert f'value="{early}"' in html
    assert "Late audit &lt;b&gt;</textarea>" in html
    r.refresh_from_db()
    assert r.extension_until is None


def test_an_extension_ask_names_a_bad_date_and_a_missing_reason_at_once(
    client, vendor, engineer, accounts
):
    r = services.request_save(actor=engineer, data=request_data(vendor))
    AccessRequest.objects.filter(pk=r.pk).update(status="active")
    client.force_login(engineer)
    assert r.expires_on is not None
    early = (r.expires_on - timedelta(days=1)).isoformat()
    response = client.post(
        reverse("approvals:request_extend", kwargs={"pk": r.pk}),
        {"until": early, "reason": "  "},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose a date after the current end date." in html
    assert "Say why the vendor still needs the access." in html
    assert f'value="{early}"' in html
    r.refresh_from_db()
    assert r.extension_until is None


def test_vendor_contract_dates_are_checked_with_the_other_fields(engineer):
    from vendors.forms import VendorForm

    form = VendorForm(
        data={
            **vendor_data(engineer, internal_owner=engineer.pk, service="s" * 201),
            "contract_start": "2027-06-01",
            "contract_end": "2027-01-01",
        },
        user=engineer,
    )
    assert not form.is_valid()
    assert form.errors["contract_end"] == ["The contract cannot end before it starts."]
    assert "201" in form.errors["service"][0]
    assert "maxlength" not in str(form["service"])
