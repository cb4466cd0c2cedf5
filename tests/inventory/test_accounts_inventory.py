"""Classification by Substrate's tags and the cross-check against the repo files (pure)."""

from __future__ import annotations

import json
import re

import pytest

from demo import aws_org as demo_org
from provisioning.inventory import (
    FLAG_INCOMPLETE,
    FLAG_NO_DOMAIN,
    FLAG_RESERVED_DOMAIN,
    FLAG_UNKNOWN_TYPE,
    PAIRS_FILE,
    Classification,
    RepoFiles,
    classify,
    cross_check,
    parse_names,
    parse_pairs,
)

V = {"Manager": "Substrate", "SubstrateVersion": "2024.08"}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({**V, "SubstrateType": "management"}, "management"),
        ({**V, "SubstrateSpecialAccount": "management"}, "management"),  # legacy
        (
            {**V, "Name": "audit", "SubstrateSpecialAccount": "audit", "SubstrateType": "audit"},
            "audit",
        ),
        ({**V, "SubstrateSpecialAccount": "deploy"}, "deploy"),
        ({**V, "SubstrateType": "Network"}, "network"),
        ({**V, "Name": "Substrate", "SubstrateType": "Substrate"}, "substrate"),
        ({**V, "SubstrateType": "SUBSTRATE"}, "substrate"),
        ({"Domain": "admin", "Environment": "admin", "Quality": "alpha"}, "substrate"),
        (
            {
                "Domain": "admin",
                "Environment": "admin",
                "Quality": "a",
                "SubstrateType": "Substrate",
            },
            "substrate",
        ),
        ({**V, "Domain": "payments", "Environment": "production", "Quality": "alpha"}, "service"),
        (
            {**V, "SubstrateType": "service", "Domain": "web", "Environment": "e", "Quality": "q"},
            "service",
        ),
        ({}, "service"),
    ],
)
def test_classify_follows_substrate_rules(tags, expected):
    assert classify(tags).account_type == expected


def test_substrate_type_wins_over_special_account_and_domain():
    tags = {"SubstrateType": "audit", "SubstrateSpecialAccount": "deploy", "Domain": "admin"}
    assert classify(tags).account_type == "audit"


def test_legacy_admin_account_is_marked_legacy():
    legacy = classify({"Domain": "admin", "Environment": "admin", "Quality": "beta"})
    assert legacy.legacy_admin
    assert legacy.quality == "beta"
    assert not classify({"SubstrateType": "Substrate"}).legacy_admin


def test_service_account_fields_come_from_tags():
    c = classify(
        {
            "Domain": "payments",
            "Environment": "production",
            "Quality": "beta",
            "SubstrateVersion": "2023.02",
        }
    )
    assert (c.domain, c.environment, c.quality, c.substrate_version) == (
        "payments",
        "production",
        "beta",
        "2023.02",
    )
    assert c.selectable
    assert c.flags == ()


def test_untagged_service_account_is_kept_but_flagged_and_not_selectable():
    c = classify({"Name": "someone-elses-sandbox"})
    assert c.account_type == "service"
    assert FLAG_NO_DOMAIN in c.flags
    assert not c.selectable


def test_unknown_type_falls_through_and_is_flagged():
    c = classify({"SubstrateType": "sandbox", "Domain": "web", "Environment": "e", "Quality": "q"})
    assert c.account_type == "service"
    assert FLAG_UNKNOWN_TYPE in c.flags
    c = classify({"SubstrateType": "sandbox", "SubstrateSpecialAccount": "deploy"})
    assert c.account_type == "deploy"


def test_incomplete_and_reserved_service_accounts_are_flagged():
    assert FLAG_INCOMPLETE in classify({"Domain": "web", "Environment": "production"}).flags
    assert (
        FLAG_RESERVED_DOMAIN
        in classify({"Domain": "network", "Environment": "e", "Quality": "q"}).flags
    )


def test_every_demo_account_classifies_as_declared():
    for account in demo_org.demo_accounts():
        assert classify(account.tags).account_type == account.account_type, account.name


def test_parse_names_skips_blank_lines_and_keeps_order():
    assert parse_names("production\n\nstaging \r\n development\n") == [
        "production",
        "staging",
        "development",
    ]


def test_parse_pairs_reads_substrate_document():
    pairs, version = parse_pairs(demo_org.pairs_file())
    assert ("admin", demo_org.ADMIN_QUALITY) in pairs
    assert ("production", "beta") in pairs
    assert version == "2024.08"


@pytest.mark.parametrize(
    "text", ["{", "[]", '{"ValidEnvironmentQualityPairs": [{"Environment": "e"}]}', '{"x": 1}']
)
def test_parse_pairs_rejects_malformed_documents(text):
    with pytest.raises(ValueError, match=re.escape(PAIRS_FILE)):
        parse_pairs(text)


def _service(domain, environment, quality, version="2024.08") -> Classification:
    return classify(
        {
            "Domain": domain,
            "Environment": environment,
            "Quality": quality,
            "SubstrateVersion": version,
        }
    )


def _repo(environments="development\nproduction\n", qualities="alpha\nbeta\n", pairs=None):
    if pairs is None:
        pairs = [("admin", "alpha"), ("development", "alpha"), ("production", "alpha")]
    document = {
        "ValidEnvironmentQualityPairs": [{"Environment": e, "Quality": q} for e, q in pairs],
        "SubstrateVersion": "2024.08",
    }
    return RepoFiles(environments=environments, qualities=qualities, pairs=json.dumps(document))


def _kinds(mismatches):
    return sorted(m.kind for m in mismatches)


def test_demo_accounts_agree_with_demo_repo_files():
    files = demo_org.repo_files()
    repo = RepoFiles(
        environments=files["substrate.environments"],
        qualities=files["substrate.qualities"],
        pairs=files["substrate.valid-environment-quality-pairs.json"],
    )
    accounts = [(str(i), classify(a.tags)) for i, a in enumerate(demo_org.demo_accounts())]
    assert cross_check(accounts, repo, repo_location="demo") == []


def test_cross_check_reports_unknown_names_pairs_versions_and_untagged():
    accounts = [
        ("111111111111", _service("web", "development", "alpha")),
        ("222222222222", _service("web", "staging", "alpha")),  # environment not in file
        ("333333333333", _service("web", "production", "gamma")),  # quality not in file
        ("444444444444", _service("web", "production", "beta")),  # pair not valid
        ("555555555555", _service("data", "production", "alpha", version="2024.01")),
        ("666666666666", classify({"Name": "loose"})),  # untagged service account
        ("777777777777", classify({"Domain": "admin", "Environment": "admin", "Quality": "zeta"})),
    ]
    mismatches = cross_check(accounts, _repo(), repo_location="/repo")
    by_kind = {m.kind: m for m in mismatches}
    assert _kinds(mismatches) == [
        "environment_unknown",
        "pair_invalid",
        "pair_invalid",
        "pair_invalid",
        "quality_unknown",
        "quality_unknown",
        "untagged_service",
        "version_mismatch",
    ]
    assert by_kind["environment_unknown"].accounts == ("222222222222",)
    assert "'staging'" in by_kind["environment_unknown"].message
    quality_ids = sorted(a for m in mismatches if m.kind == "quality_unknown" for a in m.accounts)
    assert quality_ids == ["333333333333", "777777777777"]  # the admin account's quality too
    assert by_kind["version_mismatch"].accounts == ("555555555555",)
    assert "2024.01" in by_kind["version_mismatch"].message
    assert by_kind["untagged_service"].accounts == ("666666666666",)
    assert all(m.as_dict()["message"] for m in mismatches)


def test_cross_check_without_repo_says_where_and_still_checks_tags():
    accounts = [("666666666666", classify({}))]
    mismatches = cross_check(accounts, None, repo_location="/srv/substrate.git")
    assert mismatches[0].kind == "repo_unreadable"
    assert mismatches[0].message == "Substrate repository not readable at /srv/substrate.git"
    assert _kinds(mismatches) == ["repo_unreadable", "untagged_service"]


def test_cross_check_reports_missing_and_invalid_files():
    repo = RepoFiles(environments=None, qualities="alpha\n", pairs="not json")
    mismatches = cross_check(
        [("1", _service("web", "production", "alpha"))], repo, repo_location="r"
    )
    assert _kinds(mismatches) == ["repo_file_invalid", "repo_file_missing"]


def test_admin_environment_is_implicit():
    accounts = [("1", classify({"Domain": "admin", "Environment": "admin", "Quality": "alpha"}))]
    assert cross_check(accounts, _repo(), repo_location="r") == []


def test_long_id_lists_are_shortened_in_the_message_but_kept_whole():
    accounts = [(f"{i:012d}", _service("web", "qa", "alpha")) for i in range(15)]
    (mismatch, pair) = cross_check(accounts, _repo(), repo_location="r")
    assert mismatch.kind == "environment_unknown"
    assert len(mismatch.accounts) == 15
    assert mismatch.message.endswith("and 5 more")
    assert pair.kind == "pair_invalid"
