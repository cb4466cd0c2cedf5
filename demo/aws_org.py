"""The demo organization, as data: one definition for the AWS emulator and the demo repository.

`manage.py aws_emulator` creates these accounts, tagged exactly as Substrate tags them
(SUBSTRATE.md section 4); a demo Substrate repository built from the same constants (its
`substrate.environments`, `substrate.qualities` and
`substrate.valid-environment-quality-pairs.json`, rendered below) agrees with the accounts, so
the sync's cross-check finds nothing to report until someone changes one side.

The account ids are moto's: the emulator seeds moto's random generator with `DEMO_SEED` before
creating the accounts, so a fresh emulator always gives the same ids, and
`aws_emulator.demo_account_ids()` finds them without one running by replaying that seeding.
`layout_spec()` turns them into the demo repository's layout (demo/substrate_repo.py), whose
root modules name the accounts in their providers.tf files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from provisioning import substrate_layout
from provisioning.substrate_layout import Account, LayoutSpec

SUBSTRATE_VERSION = "2024.08"
DOMAINS = ("payments", "data", "web")
ENVIRONMENTS = ("development", "staging", "production")
QUALITIES = ("alpha", "beta")
# beta is a production-only quality, as many organizations run it: not every environment has
# every quality.
VALID_PAIRS = (
    ("development", "alpha"),
    ("staging", "alpha"),
    ("production", "alpha"),
    ("production", "beta"),
)
# The Substrate (admin) account's quality, listed as the `admin` pair in the pairs file.
ADMIN_QUALITY = "alpha"
EMAIL_DOMAIN = "example.com"
SPECIAL_ACCOUNTS = ("audit", "deploy", "network")
# The demo repository's `substrate.default-region` and `substrate.prefix`.
DEFAULT_REGION = "us-west-2"
PREFIX = "demo"
# Seed of moto's random generator in the emulator: the same seed gives the same account ids.
DEMO_SEED = 2024
# The demo vendor whose `iam_user` grant is merged and applied out of the box: the emulator
# creates its IAM user (named after the vendor's slug, as the change set does) in the account
# the portal's admin role reaches, and `seed_demo` its active request, so the worker issues the
# key and e-mails the one-time link at once (demo/vendors.py has the vendor).
KEY_DEMO_VENDOR_SLUG = "relay-alerts"


# A trust nobody approved, made by hand in one demo account before the portal existed: the
# external-access scan finds it (issue 17). The principal is Datadog's published integration
# account, so the finding is named from the vendor catalogue.
UNAPPROVED_TRUST_ROLE = "LegacyMetricsReader"
UNAPPROVED_TRUST_PRINCIPAL = "arn:aws:iam::464622532012:root"
UNAPPROVED_TRUST_ACCOUNT = ("web", "staging", "alpha")  # the demo service account it is in


@dataclass(frozen=True)
class DemoAccount:
    """One account of the demo organization: its name, e-mail, tags and expected type.

    `management=True` is the organization's management account, which exists already (it
    created the organization); it is tagged rather than created.
    """

    name: str
    email: str
    tags: dict[str, str]
    account_type: str
    management: bool = False


def _email(name: str) -> str:
    return f"aws+{name}@{EMAIL_DOMAIN}"


def service_account_name(domain: str, environment: str, quality: str) -> str:
    """Substrate's `Name` tag for a service account (`<e>-<q>` when domain == environment)."""
    if domain == environment:
        return f"{environment}-{quality}"
    return f"{domain}-{environment}-{quality}"


def demo_accounts() -> tuple[DemoAccount, ...]:
    """Every account of the demo organization, special accounts first."""
    common = {"Manager": "Substrate", "SubstrateVersion": SUBSTRATE_VERSION}
    accounts = [
        DemoAccount(
            name="management",
            email=_email("management"),
            tags={**common, "SubstrateType": "management"},
            account_type="management",
            management=True,
        ),
        *(
            DemoAccount(
                name=kind,
                email=_email(kind),
                tags={
                    "Name": kind,
                    "SubstrateSpecialAccount": kind,
                    "SubstrateType": kind,
                    **common,
                },
                account_type=kind,
            )
            for kind in SPECIAL_ACCOUNTS
        ),
        DemoAccount(
            name="Substrate",
            email=_email("substrate"),
            tags={"Name": "Substrate", "SubstrateType": "Substrate", **common},
            account_type="substrate",
        ),
    ]
    for domain in DOMAINS:
        for environment, quality in VALID_PAIRS:
            name = service_account_name(domain, environment, quality)
            accounts.append(
                DemoAccount(
                    name=name,
                    email=_email(name),
                    tags={
                        "Domain": domain,
                        "Environment": environment,
                        "Quality": quality,
                        "Name": name,
                        "SubstrateType": "service",
                        **common,
                    },
                    account_type="service",
                )
            )
    return tuple(accounts)


# --- The repository's naming files, as Substrate writes them ----------------------------------


def environments_file() -> str:
    """`substrate.environments`: one name a line, in order (`admin` is implicit)."""
    return "".join(f"{name}\n" for name in ENVIRONMENTS)


def qualities_file() -> str:
    """`substrate.qualities`: one name a line, in order."""
    return "".join(f"{name}\n" for name in QUALITIES)


def pairs_file() -> str:
    """`substrate.valid-environment-quality-pairs.json`, tab-indented like Substrate's."""
    return substrate_layout.pairs_file(VALID_PAIRS, ADMIN_QUALITY, SUBSTRATE_VERSION)


def repo_files() -> dict[str, str]:
    """The three naming files by path, for a demo repository builder."""
    return {
        "substrate.environments": environments_file(),
        "substrate.qualities": qualities_file(),
        "substrate.valid-environment-quality-pairs.json": pairs_file(),
    }


# --- The demo repository's layout -------------------------------------------------------------


def layout_spec(account_ids: Mapping[str, str]) -> LayoutSpec:
    """The demo organization's Substrate repository, given account name -> id.

    `account_ids` is what the emulator's seeding returns; KeyError names a demo account that
    has no id in it.
    """
    accounts: list[Account] = []
    for account in demo_accounts():
        if account.name not in account_ids:
            raise KeyError(f"no id for the demo account {account.name!r}")
        account_id = account_ids[account.name]
        if account.account_type == "service":
            accounts.append(
                Account(
                    account_id,
                    account.tags["Domain"],
                    account.tags["Environment"],
                    account.tags["Quality"],
                )
            )
        elif account.account_type == "substrate":
            accounts.append(Account(account_id, "admin", "admin", ADMIN_QUALITY, "substrate"))
        else:
            accounts.append(Account(account_id, "", "", "", account.account_type))
    return LayoutSpec(
        version=SUBSTRATE_VERSION,
        domains=DOMAINS,
        environments=ENVIRONMENTS,
        qualities=QUALITIES,
        pairs=VALID_PAIRS,
        admin_quality=ADMIN_QUALITY,
        region=DEFAULT_REGION,
        prefix=PREFIX,
        accounts=tuple(accounts),
    )
