"""The pure parts of the external-access scan: who a trust policy lets in, and IAM Access
Analyzer's findings (real AWS only; the emulator has none) turned into our rows."""

from __future__ import annotations

import pytest

from provisioning.substrate.verify import TrustedPrincipal, trusted_principals
from verification.findings import analyzer_trusts, catalogue

pytestmark = pytest.mark.pure

ORG = {"111111111111", "222222222222"}


def test_trusted_principals_canonical_with_external_id_only_when_always_required():
    document = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["999988887777", "arn:aws:iam::111111111111:role/Ci"]},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "x"}},
            },
            {"Effect": "Allow", "Principal": {"AWS": "999988887777"}, "Action": "sts:TagSession"},
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "*"},
            {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::555555555555:root"}},
            {"Effect": "Allow", "Principal": {"AWS": "AROAEXAMPLEDELETED"}, "Action": "*"},
        ]
    }
    assert trusted_principals(document) == [
        TrustedPrincipal("arn:aws:iam::111111111111:role/Ci", "111111111111", True),
        TrustedPrincipal("arn:aws:iam::999988887777:root", "999988887777", False),
    ]
    assert trusted_principals(
        {"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}}
    ) == [TrustedPrincipal("*", "", False)]


def test_access_analyzer_findings_become_trusts_outside_the_organization():
    page = {
        "findings": [
            {
                "id": "a1",
                "principal": {"AWS": "464622532012"},
                "resource": "arn:aws:iam::222222222222:role/DatadogIntegrationRole",
                "resourceOwnerAccount": "222222222222",
                "resourceType": "AWS::IAM::Role",
                "condition": {"sts:ExternalId": "dd-1"},
                "status": "ACTIVE",
            },
            {  # inside the organization
                "principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "resource": "arn:aws:iam::222222222222:role/Deploy",
                "status": "ACTIVE",
            },
            {  # a service, not a vendor's account
                "principal": {"Service": "lambda.amazonaws.com"},
                "resource": "arn:aws:iam::222222222222:role/Fn",
                "status": "ACTIVE",
            },
            {
                "principal": {"AWS": "*"},
                "resource": "arn:aws:iam::111111111111:role/path/Open",
                "status": "ACTIVE",
            },
            {
                "principal": {"AWS": "464622532012"},
                "resource": "arn:aws:iam::111111111111:role/Old",
                "status": "ARCHIVED",
            },
        ]
    }
    trusts = analyzer_trusts(page["findings"], ORG)
    assert [(t.account_id, t.role_name, t.principal, t.external_id_required) for t in trusts] == [
        ("111111111111", "Open", "*", False),
        ("222222222222", "DatadogIntegrationRole", "arn:aws:iam::464622532012:root", True),
    ]
    assert {t.source for t in trusts} == {"access_analyzer"}


def test_every_catalogue_entry_has_a_source():
    entries = catalogue()
    assert entries
    for account_id, entry in entries.items():
        assert len(account_id) == 12
        assert account_id.isdigit()
        assert entry["name"]
        assert entry["source"].startswith("https://")
