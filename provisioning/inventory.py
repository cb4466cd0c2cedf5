"""Classifying accounts from their tags, and cross-checking them against the Substrate repo.

Pure functions (no Django, no I/O): tags in, a classification out; classified accounts and the
text of the repository's `substrate.environments`, `substrate.qualities` and
`substrate.valid-environment-quality-pairs.json` in, a list of mismatches out. The rules are
Substrate's own (SUBSTRATE.md section 4; `accounts.Grouped`, `naming/environments_qualities.go`,
`veqp/document.go`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The values of AwsAccount.Type, spelled here so this module stays free of Django.
SERVICE = "service"
MANAGEMENT = "management"
AUDIT = "audit"
DEPLOY = "deploy"
NETWORK = "network"
SUBSTRATE = "substrate"
ACCOUNT_TYPES = (SERVICE, MANAGEMENT, AUDIT, DEPLOY, NETWORK, SUBSTRATE)

# `SubstrateType` / `SubstrateSpecialAccount` values, compared case-insensitively: the Substrate
# account is tagged `SubstrateType=Substrate` (capital S), and accounts from before 2023.08
# called it the admin account.
_TYPE_VALUES = {
    "service": SERVICE,
    "management": MANAGEMENT,
    "audit": AUDIT,
    "deploy": DEPLOY,
    "network": NETWORK,
    "substrate": SUBSTRATE,
    "admin": SUBSTRATE,
}
ADMIN_DOMAIN = "admin"
RESERVED_DOMAINS = frozenset(
    {
        "admin",
        "common",
        "deploy",
        "intranet",
        "lambda-function",
        "network",
        "peering-connection",
        "substrate",
    }
)

# Flags: why an account needs a human's attention. Role selection ignores flagged service
# accounts that have no Domain tag, as Substrate does.
FLAG_NO_DOMAIN = "service account without a Domain tag (ignored by role selection)"
FLAG_INCOMPLETE = "service account without an Environment or Quality tag"
FLAG_RESERVED_DOMAIN = "service account in a reserved domain"
FLAG_UNKNOWN_TYPE = "unrecognised SubstrateType or SubstrateSpecialAccount tag"

ENVIRONMENTS_FILE = "substrate.environments"
QUALITIES_FILE = "substrate.qualities"
PAIRS_FILE = "substrate.valid-environment-quality-pairs.json"
REPO_FILES = (ENVIRONMENTS_FILE, QUALITIES_FILE, PAIRS_FILE)
# Message lists of account ids stop here; the mismatch keeps every id.
_IDS_SHOWN = 10


@dataclass(frozen=True)
class Classification:
    """What an account is, by Substrate's rules, and what is wrong with its tags."""

    account_type: str
    domain: str = ""
    environment: str = ""
    quality: str = ""
    substrate_version: str = ""
    legacy_admin: bool = False
    flags: tuple[str, ...] = ()

    @property
    def selectable(self) -> bool:
        """True for service accounts that role selection (domain/environment/quality) sees."""
        return self.account_type == SERVICE and bool(self.domain)


def _known_type(value: str) -> str | None:
    return _TYPE_VALUES.get(value.strip().lower())


def classify(tags: Mapping[str, str]) -> Classification:
    """Classifies an account from its Organizations tags.

    `SubstrateType` if set, else `SubstrateSpecialAccount`, else `Domain=admin` (the legacy
    admin account, now the Substrate account), else a service account. An unrecognised type
    value falls through to the next rule and is flagged.
    """

    def tag(key: str) -> str:
        return str(tags.get(key, "")).strip()

    flags: list[str] = []
    account_type: str | None = None
    legacy_admin = False
    for key in ("SubstrateType", "SubstrateSpecialAccount"):
        value = tag(key)
        if not value:
            continue
        account_type = _known_type(value)
        if account_type is not None:
            break
        flags.append(FLAG_UNKNOWN_TYPE)
    domain = tag("Domain")
    if account_type is None and domain == ADMIN_DOMAIN:
        account_type = SUBSTRATE
        legacy_admin = True
    if account_type is None:
        account_type = SERVICE
    environment, quality = tag("Environment"), tag("Quality")
    if account_type == SERVICE:
        if not domain:
            flags.append(FLAG_NO_DOMAIN)
        else:
            if not environment or not quality:
                flags.append(FLAG_INCOMPLETE)
            if domain in RESERVED_DOMAINS:
                flags.append(FLAG_RESERVED_DOMAIN)
    return Classification(
        account_type=account_type,
        domain=domain,
        environment=environment,
        quality=quality,
        substrate_version=tag("SubstrateVersion"),
        legacy_admin=legacy_admin,
        flags=tuple(dict.fromkeys(flags)),
    )


# --- The repository's files -------------------------------------------------------------------


@dataclass(frozen=True)
class RepoFiles:
    """The text of the three naming files on the default branch; None where a file is absent."""

    environments: str | None
    qualities: str | None
    pairs: str | None


def parse_names(text: str) -> list[str]:
    """The names of `substrate.environments` / `substrate.qualities`: one a line, in order."""
    # Split on "\n" only: str.splitlines also splits on characters that may sit inside a line.
    return [line.strip() for line in text.split("\n") if line.strip()]


def parse_pairs(text: str) -> tuple[list[tuple[str, str]], str]:
    """The (environment, quality) pairs and the SubstrateVersion of the pairs file.

    Raises ValueError when the file is not the JSON document Substrate writes.
    """
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{PAIRS_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(
        document.get("ValidEnvironmentQualityPairs"), list
    ):
        raise ValueError(f"{PAIRS_FILE} has no ValidEnvironmentQualityPairs list")
    pairs = []
    for item in document["ValidEnvironmentQualityPairs"]:
        if not isinstance(item, dict):
            raise ValueError(f"{PAIRS_FILE}: a pair is not an object: {item!r}")
        environment, quality = item.get("Environment"), item.get("Quality")
        if not isinstance(environment, str) or not isinstance(quality, str):
            raise ValueError(f"{PAIRS_FILE}: a pair lacks Environment or Quality: {item!r}")
        pairs.append((environment, quality))
    version = document.get("SubstrateVersion", "")
    return pairs, version if isinstance(version, str) else str(version)


# --- Cross-check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """One disagreement between the accounts' tags and the repository (or within the tags)."""

    kind: str
    message: str
    accounts: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "accounts": list(self.accounts)}


def _ids(account_ids: Iterable[str]) -> str:
    ids = sorted(set(account_ids))
    shown = ", ".join(ids[:_IDS_SHOWN])
    more = len(ids) - _IDS_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def cross_check(
    accounts: Iterable[tuple[str, Classification]],
    repo: RepoFiles | None,
    *,
    repo_location: str,
) -> list[Mismatch]:
    """Compares the active accounts (id, classification) with the repository's naming files.

    Reports environments and qualities used by accounts but missing from the files, pairs
    used but not valid, accounts whose SubstrateVersion tag differs from the repository's,
    and accounts whose tags are flagged (untagged service accounts and the like). `repo` is
    None when the repository could not be read; the tag checks are still made.
    """
    accounts = list(accounts)
    mismatches: list[Mismatch] = []

    flagged: dict[str, list[str]] = defaultdict(list)
    for account_id, classification in accounts:
        for flag in classification.flags:
            flagged[flag].append(account_id)
    for flag, ids in flagged.items():
        kind = "untagged_service" if flag == FLAG_NO_DOMAIN else "tags"
        message = f"{_plural(len(ids), 'account')}: {flag}: {_ids(ids)}"
        mismatches.append(Mismatch(kind, message, tuple(sorted(ids))))

    if repo is None:
        message = f"Substrate repository not readable at {repo_location}"
        return [Mismatch("repo_unreadable", message), *mismatches]

    # Only accounts that role selection sees, plus the admin account's quality.
    used_env: dict[str, list[str]] = defaultdict(list)
    used_quality: dict[str, list[str]] = defaultdict(list)
    used_pair: dict[tuple[str, str], list[str]] = defaultdict(list)
    for account_id, c in accounts:
        if c.selectable:
            if c.environment:
                used_env[c.environment].append(account_id)
            if c.quality:
                used_quality[c.quality].append(account_id)
            if c.environment and c.quality:
                used_pair[(c.environment, c.quality)].append(account_id)
        elif c.account_type == SUBSTRATE and c.quality:
            used_quality[c.quality].append(account_id)

    repo_checks: list[Mismatch] = []
    for filename, text, used, what in (
        (ENVIRONMENTS_FILE, repo.environments, used_env, "environment"),
        (QUALITIES_FILE, repo.qualities, used_quality, "quality"),
    ):
        if text is None:
            repo_checks.append(
                Mismatch("repo_file_missing", f"{filename} is missing from the repository")
            )
            continue
        known = set(parse_names(text))
        if what == "environment":
            known.add(ADMIN_DOMAIN)  # Substrate implicitly prepends `admin` to the environments
        for name, ids in sorted(used.items()):
            if name not in known:
                repo_checks.append(
                    Mismatch(
                        f"{what}_unknown",
                        f"{what} {name!r} is used by {_plural(len(ids), 'account')} but is not "
                        f"in {filename}: {_ids(ids)}",
                        tuple(sorted(ids)),
                    )
                )

    if repo.pairs is None:
        repo_checks.append(
            Mismatch("repo_file_missing", f"{PAIRS_FILE} is missing from the repository")
        )
    else:
        try:
            pairs, repo_version = parse_pairs(repo.pairs)
        except ValueError as exc:
            repo_checks.append(Mismatch("repo_file_invalid", str(exc)))
        else:
            valid = {pair for pair in pairs if pair[0] != ADMIN_DOMAIN}
            for (environment, quality), ids in sorted(used_pair.items()):
                if (environment, quality) not in valid:
                    repo_checks.append(
                        Mismatch(
                            "pair_invalid",
                            f"{environment}/{quality} is used by {_plural(len(ids), 'account')} "
                            f"but is not a valid pair in {PAIRS_FILE}: {_ids(ids)}",
                            tuple(sorted(ids)),
                        )
                    )
            if repo_version:
                by_version: dict[str, list[str]] = defaultdict(list)
                for account_id, c in accounts:
                    if c.substrate_version and c.substrate_version != repo_version:
                        by_version[c.substrate_version].append(account_id)
                for version, ids in sorted(by_version.items()):
                    repo_checks.append(
                        Mismatch(
                            "version_mismatch",
                            f"SubstrateVersion {version} on {_plural(len(ids), 'account')} "
                            f"differs from the repository's {repo_version}: {_ids(ids)}",
                            tuple(sorted(ids)),
                        )
                    )
    return [*repo_checks, *mismatches]
