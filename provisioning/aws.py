"""The only module that imports boto3: clients for the configured AWS (or the local emulator).

Credentials come from boto3's standard chain. `AWS_ENDPOINT_URL` points every client at the
AWS emulator for `make run` and the tests; empty means real AWS. A role ARN makes the client
assume that role first (e.g. an `OrganizationReader` or the admin account's role).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar
from urllib.parse import unquote, urlsplit

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from django.conf import settings

from provisioning.keys import Secret
from provisioning.substrate.observed import AccountUnreadable, ObservedRole, ObservedUser

# Standard retry mode backs off on throttling, which AWS Organizations does readily.
_BOTO_CONFIG = BotoConfig(
    retries={"max_attempts": 8, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


# The local emulator accepts any credentials, and `make run` has none to give it.
_EMULATOR_CREDENTIALS = {"access_key": "emulator", "secret_key": "emulator"}


def _is_loopback_endpoint(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _PathsOnce(list[str]):
    """boto3 appends its data folder to the loader's search paths on every Session: with one
    loader shared by all sessions, a path already listed is not appended again."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


# botocore reads and parses its JSON service models per session (0.1 s or more for a client);
# one loader shared by every session parses them once per process. Its caches are only ever
# filled, never changed, so sharing it between threads is safe.
SHARED_LOADER = botocore.loaders.Loader(extra_search_paths=_PathsOnce())


def _core_session() -> botocore.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", SHARED_LOADER)
    return core


def _emulator_session() -> boto3.Session:
    """A session for the emulator on loopback: the standard chain minus the instance and
    container metadata endpoints (never worth a network probe here), and placeholder
    credentials when the chain has none (`make run` sets none; the emulator takes any)."""
    core = _core_session()
    resolver = core.get_component("credential_provider")
    for method in ("iam-role", "container-role"):
        resolver.remove(method)
    if core.get_credentials() is None:
        core.set_credentials(**_EMULATOR_CREDENTIALS)
    return boto3.Session(botocore_session=core, region_name=settings.AWS_REGION)


def _session(role_arn: str = "", session_name: str = "vendor-access-portal") -> boto3.Session:
    endpoint = settings.AWS_ENDPOINT_URL
    if endpoint and _is_loopback_endpoint(endpoint):
        base = _emulator_session()
    else:
        # Real AWS (or a remote endpoint): boto3's standard chain, unchanged.
        base = boto3.Session(botocore_session=_core_session(), region_name=settings.AWS_REGION)
    if not role_arn:
        return base
    sts = base.client("sts", endpoint_url=settings.AWS_ENDPOINT_URL or None, config=_BOTO_CONFIG)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return boto3.Session(
        botocore_session=_core_session(),
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=settings.AWS_REGION,
    )


def aws_client(service: str, *, role_arn: str = "") -> Any:
    """A boto3 client for `service`, through `role_arn` when given."""
    session: Any = _session(role_arn)  # boto3-stubs type `client` per service name literal
    return session.client(
        service, endpoint_url=settings.AWS_ENDPOINT_URL or None, config=_BOTO_CONFIG
    )


# --- AWS Organizations: the account inventory (SUBSTRATE.md section 4) ------------------------

# ListAccounts accepts at most 20 results a page; asking for the maximum keeps the number of
# (throttled) calls down for a large organization.
LIST_ACCOUNTS_PAGE_SIZE = 20
# Account states in which nothing can be granted. `Status` (being retired by AWS) has ACTIVE,
# SUSPENDED and PENDING_CLOSURE; its successor `State` adds PENDING_ACTIVATION and CLOSED.
# Substrate skips SUSPENDED; an account that is closing or closed is just as unusable.
INACTIVE_ACCOUNT_STATES = frozenset({"SUSPENDED", "PENDING_CLOSURE", "CLOSED"})


class AwsError(Exception):
    """An AWS call failed (denied, unreachable, throttled past the retries); the message says
    which call and why, without a botocore type for callers to import."""


# Error codes that say "try again later" rather than "this will never work". boto3's standard
# retry mode has already retried these a few times by the time an AwsError reaches a caller.
TEMPORARY_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailure",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)


def aws_error_temporary(exc: BaseException) -> bool:
    """Whether an `AwsError` (or the botocore error under it) may succeed if retried later:
    throttling, a 5xx answer, or no answer at all (connection refused, timeout)."""
    cause = exc.__cause__ if isinstance(exc, AwsError) else exc
    if isinstance(cause, ClientError):
        status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return _error_code(cause) in TEMPORARY_ERROR_CODES or status >= 500
    # No answer at all; missing credentials or a malformed call will not improve by waiting.
    return isinstance(cause, (BotocoreConnectionError, HTTPClientError))


@dataclass(frozen=True)
class OrganizationAccount:
    """One account as AWS Organizations lists it, with its tags."""

    id: str
    name: str
    email: str
    state: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OrganizationInventory:
    """The outcome of one enumeration: the usable accounts, and the ids of the skipped ones."""

    accounts: tuple[OrganizationAccount, ...]
    suspended_ids: tuple[str, ...]
    pages: int
    organization_id: str = ""
    management_account_id: str = ""

    @property
    def skipped_suspended(self) -> int:
        return len(self.suspended_ids)


def _account_state(account: dict[str, Any]) -> str:
    # AWS is replacing `Status` with `State`; either may be present (moto sends both).
    return str(account.get("State") or account.get("Status") or "ACTIVE").upper()


def _describe_error(operation: str, exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = error.get("Message", "") or str(exc)
        return f"AWS Organizations {operation} failed: {code}: {message}"
    return f"AWS Organizations {operation} failed: {exc}"


def organization_accounts(*, page_size: int = LIST_ACCOUNTS_PAGE_SIZE) -> OrganizationInventory:
    """Lists the organization's accounts with their tags, as Substrate's `awscfg/find.go` does.

    `DescribeOrganization` first (an account outside an organization fails clearly there),
    then `ListAccounts`, paginated; suspended (or closing) accounts are skipped and counted, and
    their tags are not read. `ListTagsForResource` is called once per remaining account (also
    paginated). Credentials come from boto3's standard chain, through
    `AWS_ORGANIZATION_READER_ROLE_ARN` when set. Raises `AwsError` on any AWS failure, so a
    caller never sees a partial inventory.
    """
    role_arn = settings.AWS_ORGANIZATION_READER_ROLE_ARN
    operation = f"AssumeRole {role_arn}" if role_arn else "DescribeOrganization"
    try:
        client = aws_client("organizations", role_arn=role_arn)
        operation = "DescribeOrganization"
        organization = client.describe_organization()["Organization"]
        operation = "ListAccounts"
        listed: list[dict[str, Any]] = []
        pages = 0
        paginator = client.get_paginator("list_accounts")
        for page in paginator.paginate(PaginationConfig={"PageSize": page_size}):
            pages += 1
            listed.extend(page.get("Accounts", []))
        if not listed:
            # An organization always lists its management account; an empty answer would
            # otherwise close every account in the inventory.
            raise AwsError("AWS Organizations ListAccounts returned no account at all")

        operation = "ListTagsForResource"
        accounts: list[OrganizationAccount] = []
        suspended: list[str] = []
        seen: set[str] = set()
        for raw in listed:
            account_id = str(raw["Id"])
            if account_id in seen:  # pages that overlap while accounts are being added
                continue
            seen.add(account_id)
            state = _account_state(raw)
            if state in INACTIVE_ACCOUNT_STATES:
                suspended.append(account_id)
                continue
            tags: dict[str, str] = {}
            tag_pages = client.get_paginator("list_tags_for_resource")
            for tag_page in tag_pages.paginate(ResourceId=account_id):
                tags.update({str(t["Key"]): str(t["Value"]) for t in tag_page.get("Tags", [])})
            accounts.append(
                OrganizationAccount(
                    id=account_id,
                    name=str(raw.get("Name", "")),
                    email=str(raw.get("Email", "")),
                    state=state,
                    tags=tags,
                )
            )
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(_describe_error(operation, exc)) from exc
    return OrganizationInventory(
        accounts=tuple(accounts),
        suspended_ids=tuple(suspended),
        pages=pages,
        organization_id=str(organization.get("Id", "")),
        management_account_id=str(organization.get("MasterAccountId", "")),
    )


@dataclass(frozen=True)
class SeedAccount:
    """An account to create in an (emulated) organization: its name, e-mail and tags.

    `management=True` tags the organization's management account instead of creating one.
    """

    name: str
    email: str
    tags: dict[str, str]
    management: bool = False


def organization_seed(accounts: Iterable[SeedAccount]) -> dict[str, str]:
    """Creates the organization (if needed) and `accounts` in it, tagged; returns name -> id.

    Meant for the AWS emulator (`manage.py aws_emulator`); accounts whose name already exists
    are only re-tagged, so seeding twice creates nothing twice.
    """
    if not settings.AWS_ENDPOINT_URL:
        # Creating accounts in a real organization is not something a demo should ever do.
        raise AwsError("refusing to seed accounts: AWS_ENDPOINT_URL is empty (real AWS)")
    client = aws_client("organizations")
    with contextlib.suppress(client.exceptions.AlreadyInOrganizationException):
        client.create_organization(FeatureSet="ALL")
    management_id = client.describe_organization()["Organization"]["MasterAccountId"]
    existing: dict[str, str] = {}
    for page in client.get_paginator("list_accounts").paginate():
        for raw in page.get("Accounts", []):
            existing.setdefault(str(raw.get("Name", "")), str(raw["Id"]))
    ids: dict[str, str] = {}
    for account in accounts:
        if account.management:
            account_id = str(management_id)
        elif account.name in existing:
            account_id = existing[account.name]
        else:
            status = client.create_account(AccountName=account.name, Email=account.email)
            # The emulator creates accounts at once; real AWS answers IN_PROGRESS, no id.
            account_id = str(status["CreateAccountStatus"].get("AccountId", ""))
            if not account_id:
                raise AwsError(f"CreateAccount for {account.name} returned no account id")
        client.tag_resource(
            ResourceId=account_id,
            Tags=[{"Key": key, "Value": value} for key, value in account.tags.items()],
        )
        ids[account.name] = account_id
    return ids


# --- IAM users and access keys (SOC2.md section 3 rule 5; issue 7) ------------------------------


def iam_user_seed(user_name: str) -> bool:
    """Creates the IAM user in the admin account of the AWS emulator (the demo's "applied"
    Terraform); True when created, False when it existed. Refuses real AWS."""
    if not settings.AWS_ENDPOINT_URL:
        raise AwsError("refusing to create an IAM user: AWS_ENDPOINT_URL is empty (real AWS)")
    client = _iam("CreateUser", None)
    try:
        client.create_user(UserName=user_name, Tags=[{"Key": "Manager", "Value": "Terraform"}])
    except ClientError as exc:
        if _error_code(exc) == "EntityAlreadyExists":
            return False
        raise AwsError(_describe_iam_error("CreateUser", exc)) from exc
    return True


# IAM allows two access keys per user: one in use, one for a zero-downtime rotation.
MAX_ACCESS_KEYS_PER_USER = 2


@dataclass(frozen=True)
class AccessKey:
    """One access key of an IAM user as ListAccessKeys reports it (no secret: AWS never
    returns it again after CreateAccessKey)."""

    id: str
    user_name: str
    active: bool
    created: datetime | None


@dataclass(frozen=True)
class AccessKeyLastUsed:
    """GetAccessKeyLastUsed: when, for which service and in which region; all None when the key
    was never used (AWS answers "N/A" for the service and region then)."""

    used_at: datetime | None
    service: str | None
    region: str | None

    @property
    def never_used(self) -> bool:
        return self.used_at is None


class NewAccessKey(NamedTuple):
    """A key just created: its id, and its secret wrapped so it never reaches a log."""

    id: str
    secret: Secret


def _admin_role(role_arn: str | None) -> str:
    return settings.AWS_ADMIN_ROLE_ARN if role_arn is None else role_arn


def _describe_iam_error(operation: str, exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = error.get("Message", "") or str(exc)
        return f"AWS IAM {operation} failed: {code}: {message}"
    return f"AWS IAM {operation} failed: {exc}"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _iam(operation: str, role_arn: str | None) -> Any:
    try:
        return aws_client("iam", role_arn=_admin_role(role_arn))
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(_describe_iam_error(f"{operation} (AssumeRole)", exc)) from exc


def _none_if_na(value: Any) -> str | None:
    return None if value in (None, "", "N/A") else str(value)


def iam_user_exists(user_name: str, *, role_arn: str | None = None) -> bool:
    """Whether the IAM user exists (in the admin account: `AWS_ADMIN_ROLE_ARN` by default)."""
    client = _iam("GetUser", role_arn)
    try:
        client.get_user(UserName=user_name)
    except ClientError as exc:
        if _error_code(exc) == "NoSuchEntity":
            return False
        raise AwsError(_describe_iam_error("GetUser", exc)) from exc
    except BotoCoreError as exc:
        raise AwsError(_describe_iam_error("GetUser", exc)) from exc
    return True


def _list_keys(client: Any, user_name: str) -> list[AccessKey]:
    keys: list[AccessKey] = []
    try:
        for page in client.get_paginator("list_access_keys").paginate(UserName=user_name):
            for raw in page.get("AccessKeyMetadata", []):
                keys.append(
                    AccessKey(
                        id=str(raw["AccessKeyId"]),
                        user_name=str(raw.get("UserName", user_name)),
                        active=raw.get("Status") == "Active",
                        created=raw.get("CreateDate"),
                    )
                )
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(_describe_iam_error("ListAccessKeys", exc)) from exc
    return sorted(
        keys, key=lambda key: (key.created is None, key.created or datetime.min.replace(tzinfo=UTC))
    )


def _delete_key(client: Any, user_name: str, key_id: str) -> bool:
    try:
        client.delete_access_key(UserName=user_name, AccessKeyId=key_id)
    except ClientError as exc:
        if _error_code(exc) == "NoSuchEntity":
            return False
        raise AwsError(_describe_iam_error("DeleteAccessKey", exc)) from exc
    except BotoCoreError as exc:
        raise AwsError(_describe_iam_error("DeleteAccessKey", exc)) from exc
    return True


def access_keys_list(user_name: str, *, role_arn: str | None = None) -> list[AccessKey]:
    """The user's access keys, oldest first."""
    return _list_keys(_iam("ListAccessKeys", role_arn), user_name)


def access_key_delete(user_name: str, key_id: str, *, role_arn: str | None = None) -> bool:
    """Deletes the key; True if it existed. Deleting a key that is already gone is not an error
    (a retried task must be able to run this twice)."""
    return _delete_key(_iam("DeleteAccessKey", role_arn), user_name, key_id)


def access_key_create(
    user_name: str, *, known_key_ids: Iterable[str], role_arn: str | None = None
) -> NewAccessKey:
    """Creates an access key for the user, idempotently with respect to unknown keys.

    `known_key_ids` are the keys the caller has on record (required: an empty set means "none",
    and every existing key is then deleted). Any other key of the user is deleted first: it can
    only be one that an earlier attempt created and then crashed before recording, and whose
    secret is lost. If the user still has two (known) keys, IAM's limit, nothing is created and
    `AwsError` says so: the caller must retire one first.
    """
    known = set(known_key_ids)
    client = _iam("CreateAccessKey", role_arn)
    for key in _list_keys(client, user_name):
        if key.id not in known:
            _delete_key(client, user_name, key.id)
    remaining = _list_keys(client, user_name)
    if len(remaining) >= MAX_ACCESS_KEYS_PER_USER:
        raise AwsError(
            f"IAM user {user_name} already has {len(remaining)} access keys "
            f"(the limit is {MAX_ACCESS_KEYS_PER_USER}): delete one before creating another"
        )
    try:
        created = client.create_access_key(UserName=user_name)["AccessKey"]
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(_describe_iam_error("CreateAccessKey", exc)) from exc
    return NewAccessKey(
        id=str(created["AccessKeyId"]), secret=Secret(str(created["SecretAccessKey"]))
    )


def access_key_set_status(
    user_name: str, key_id: str, active: bool, *, role_arn: str | None = None
) -> None:
    """Activates or deactivates the key (deactivating twice is fine)."""
    client = _iam("UpdateAccessKey", role_arn)
    try:
        client.update_access_key(
            UserName=user_name, AccessKeyId=key_id, Status="Active" if active else "Inactive"
        )
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(_describe_iam_error("UpdateAccessKey", exc)) from exc


def access_key_last_used(key_id: str, *, role_arn: str | None = None) -> AccessKeyLastUsed:
    """GetAccessKeyLastUsed, with AWS's "N/A" (never used) mapped to None."""
    client = _iam("GetAccessKeyLastUsed", role_arn)
    try:
        raw = client.get_access_key_last_used(AccessKeyId=key_id).get("AccessKeyLastUsed", {})
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(_describe_iam_error("GetAccessKeyLastUsed", exc)) from exc
    used_at = raw.get("LastUsedDate")
    return AccessKeyLastUsed(
        used_at=used_at if isinstance(used_at, datetime) else None,
        service=_none_if_na(raw.get("ServiceName")),
        region=_none_if_na(raw.get("Region")),
    )


# --- Reading IAM back from every account (issue 17: AWS is the source of truth) ----------------

# Accounts read at once. Each one is a few IAM calls in sequence, and IAM throttles per account
# and per caller: a handful of threads makes a large organization's scan minutes instead of
# hours without provoking Throttling everywhere.
AUDIT_MAX_WORKERS = 8
# Attempts per IAM or STS call (boto3's standard mode, with backoff) before an account is
# reported as throttled or unreachable. Read at call time, so a test can lower it.
AUDIT_MAX_ATTEMPTS = 8
# ListRoles page size for the trust scan (IAM allows up to 1000; it is read at call time too).
SCAN_PAGE_SIZE = 100

_ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)
_THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
)


class _Unreadable(Exception):
    """Raised inside one account's read and turned into its `AccountUnreadable`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def of(self, account_id: str) -> AccountUnreadable:
        """What the reader returns for `account_id` after this failure."""
        return AccountUnreadable(account_id=account_id, reason=self.reason, message=self.message)


def _unreadable(account_id: str, operation: str, exc: Exception) -> _Unreadable:
    """Classifies a failed call of one account's read. The message names the operation and the
    AWS error code only: AWS's own message text can echo request details (a signature mismatch
    quotes the access key id), and this message is shown in the portal."""
    where = f"{operation} in account {account_id}"
    if isinstance(exc, ClientError):
        code = _error_code(exc) or "Error"
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _ACCESS_DENIED_CODES:
            reason = "access_denied"
        elif code in _THROTTLING_CODES:
            reason = "throttled"
        elif aws_error_temporary(exc):
            reason = "unreachable"  # a 5xx or ServiceUnavailable: no usable answer
        else:
            reason = "error"
        suffix = f" (HTTP {status})" if status else ""
        return _Unreadable(reason, f"AWS {where} failed: {code}{suffix}")
    if aws_error_temporary(exc):
        return _Unreadable("unreachable", f"AWS {where} got no answer: {type(exc).__name__}")
    return _Unreadable("error", f"AWS {where} failed: {type(exc).__name__}")


def audit_role_arn(account_id: str) -> str:
    """The audit role (`AWS_AUDIT_ROLE_NAME` under `AWS_AUDIT_ROLE_PATH`) in `account_id`."""
    path, name = settings.AWS_AUDIT_ROLE_PATH, settings.AWS_AUDIT_ROLE_NAME
    return f"arn:aws:iam::{account_id}:role{path}{name}"


def _audit_config() -> BotoConfig:
    return _BOTO_CONFIG.merge(
        BotoConfig(retries={"max_attempts": AUDIT_MAX_ATTEMPTS, "mode": "standard"})
    )


def _assumed(sts: Any, role_arn: str, session_name: str) -> boto3.Session:
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return boto3.Session(
        botocore_session=_core_session(),
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=settings.AWS_REGION,
    )


def break_glass_role_arn(account_id: str) -> str:
    """The break-glass role (`AWS_BREAK_GLASS_ROLE_NAME` under `AWS_BREAK_GLASS_ROLE_PATH`) in
    `account_id`: the only role the emergency cut-off writes IAM as."""
    path, name = settings.AWS_BREAK_GLASS_ROLE_PATH, settings.AWS_BREAK_GLASS_ROLE_NAME
    return f"arn:aws:iam::{account_id}:role{path}{name}"


class _AuditEntry:
    """The STS client every account's audit role is assumed through: the portal's own
    credentials, or the `AWS_AUDIT_ENTRY_ROLE_ARN` hop assumed once for a whole batch.

    `role_arn` names the role assumed in each account: the audit role for reads, the
    break-glass role for the emergency cut-off (the same hop and per-account assumption, so
    both reach an account the same way).

    boto3 sessions are not thread-safe but clients are, so the session work happens here, in
    the calling thread, and the worker threads only share this one STS client."""

    def __init__(
        self,
        role_arn: Callable[[str], str] = audit_role_arn,
        session_name: str = "vendor-access-portal-audit",
        entry_role_arn: str | None = None,
    ) -> None:
        self.role_arn = role_arn
        self.session_name = session_name
        self.sts = self._sts(
            settings.AWS_AUDIT_ENTRY_ROLE_ARN if entry_role_arn is None else entry_role_arn
        )

    @staticmethod
    def _sts(entry: str) -> Any:
        endpoint = settings.AWS_ENDPOINT_URL or None
        base: Any = _session()
        sts = base.client("sts", endpoint_url=endpoint, config=_audit_config())
        if not entry:
            return sts
        try:
            hop: Any = _assumed(sts, entry, "vendor-access-portal-audit")
        except (ClientError, BotoCoreError) as exc:
            # Every account would fail the same way; the caller reports it for each of them.
            entry_account = entry.split(":")[4] if entry.count(":") >= 5 else "?"
            raise _unreadable(entry_account, f"AssumeRole {entry} (entry role)", exc) from exc
        return hop.client("sts", endpoint_url=endpoint, config=_audit_config())

    def iam(self, account_id: str) -> Any:
        """An IAM client in `account_id` as its audit (or break-glass) role (one AssumeRole
        per account)."""
        role_arn = self.role_arn(account_id)
        try:
            session: Any = _assumed(self.sts, role_arn, self.session_name)
        except (ClientError, BotoCoreError) as exc:
            raise _unreadable(account_id, f"AssumeRole {role_arn}", exc) from exc
        return session.client(
            "iam", endpoint_url=settings.AWS_ENDPOINT_URL or None, config=_audit_config()
        )


def _entry_or_unreadable(account_id: str) -> _AuditEntry | AccountUnreadable:
    try:
        return _AuditEntry()
    except _Unreadable as exc:
        return exc.of(account_id)


def _call(account_id: str, operation: str, fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise _unreadable(account_id, operation, exc) from exc


def _pages(account_id: str, iam: Any, method: str, operation: str, **kwargs: Any) -> list[Any]:
    try:
        return list(iam.get_paginator(method).paginate(**kwargs))
    except (ClientError, BotoCoreError) as exc:
        raise _unreadable(account_id, operation, exc) from exc


def _document(raw: Any) -> dict[str, Any]:
    # boto3 decodes IAM's URL-encoded policy documents itself; a string means it did not.
    if isinstance(raw, str):
        return dict(json.loads(unquote(raw)))
    return dict(raw or {})


def _tags(raw: Any) -> dict[str, str]:
    return {str(tag["Key"]): str(tag["Value"]) for tag in raw or []}


def _missing(exc: _Unreadable) -> bool:
    return isinstance(exc.__cause__, ClientError) and _error_code(exc.__cause__) == "NoSuchEntity"


def _inline_policies(account_id: str, iam: Any, kind: str, name: str) -> dict[str, dict[str, Any]]:
    """The inline policies (name -> document) of the role or user `name` (`kind` "Role" or
    "User": IAM's operations differ only by that word)."""
    owner = {f"{kind}Name": name}
    get_policy = getattr(iam, f"get_{kind.lower()}_policy")
    policies: dict[str, dict[str, Any]] = {}
    for page in _pages(
        account_id, iam, f"list_{kind.lower()}_policies", f"List{kind}Policies {name}", **owner
    ):
        for policy_name in page.get("PolicyNames", []):
            answer = _call(
                account_id,
                f"Get{kind}Policy {name} {policy_name}",
                get_policy,
                PolicyName=policy_name,
                **owner,
            )
            policies[str(policy_name)] = _document(answer.get("PolicyDocument"))
    return policies


def _attached_policy_arns(account_id: str, iam: Any, kind: str, name: str) -> frozenset[str]:
    """The managed policies attached to the role or user `name` (`kind` as above)."""
    return frozenset(
        str(policy["PolicyArn"])
        for page in _pages(
            account_id,
            iam,
            f"list_attached_{kind.lower()}_policies",
            f"ListAttached{kind}Policies {name}",
            **{f"{kind}Name": name},
        )
        for policy in page.get("AttachedPolicies", [])
    )


def _read_role(account_id: str, iam: Any, name: str) -> ObservedRole:
    try:
        role = _call(account_id, f"GetRole {name}", iam.get_role, RoleName=name)["Role"]
        attached = _attached_policy_arns(account_id, iam, "Role", name)
        inline = _inline_policies(account_id, iam, "Role", name)
    except _Unreadable as exc:
        if _missing(exc):  # absent, or deleted between two of the calls above
            return ObservedRole(account_id=account_id, name=name, exists=False)
        raise
    last_used = role.get("RoleLastUsed") or {}
    used_at = last_used.get("LastUsedDate")
    return ObservedRole(
        account_id=account_id,
        name=name,
        exists=True,
        trust_policy=_document(role.get("AssumeRolePolicyDocument")),
        attached_policy_arns=attached,
        inline_policies=inline,
        last_used_at=used_at if isinstance(used_at, datetime) else None,
        last_used_region=str(last_used.get("Region") or ""),
        tags=_tags(role.get("Tags")),
    )


def _read_roles(
    entry: _AuditEntry, account_id: str, role_names: Sequence[str]
) -> list[ObservedRole | AccountUnreadable]:
    try:
        iam = entry.iam(account_id)
    except _Unreadable as exc:
        return [exc.of(account_id) for _ in role_names]
    results: list[ObservedRole | AccountUnreadable] = []
    for index, name in enumerate(role_names):
        try:
            results.append(_read_role(account_id, iam, name))
        except _Unreadable as exc:
            unreadable = exc.of(account_id)
            if exc.reason in ("throttled", "unreachable"):
                # boto3 has already retried this call; the account's other roles would only
                # wait out the same backoff, so they share this answer.
                results.extend(unreadable for _ in role_names[index:])
                break
            results.append(unreadable)
    return results


def read_roles(
    account_id: str, role_names: Sequence[str]
) -> list[ObservedRole | AccountUnreadable]:
    """Reads each named role of `account_id` as the account's audit role, assumed once.

    One entry per name, in order: an `ObservedRole` (with `exists=False` when IAM has no such
    role), or an `AccountUnreadable` when the role could not be read. If the audit role cannot
    be assumed, or the account throttles or stops answering, every remaining entry is that
    same `AccountUnreadable`; an AccessDenied on one role leaves the others to be read.
    """
    entry = _entry_or_unreadable(account_id)
    if isinstance(entry, AccountUnreadable):
        return [entry for _ in role_names]
    return _read_roles(entry, account_id, role_names)


def read_user(account_id: str, user_name: str) -> ObservedUser | AccountUnreadable:
    """Reads one IAM user of `account_id` (policies and access key ids, never secrets)."""
    entry = _entry_or_unreadable(account_id)
    if isinstance(entry, AccountUnreadable):
        return entry
    try:
        iam = entry.iam(account_id)
        try:
            user = _call(account_id, f"GetUser {user_name}", iam.get_user, UserName=user_name)
            inline = _inline_policies(account_id, iam, "User", user_name)
            attached = _attached_policy_arns(account_id, iam, "User", user_name)
            keys = [
                str(key["AccessKeyId"])
                for page in _pages(
                    account_id,
                    iam,
                    "list_access_keys",
                    f"ListAccessKeys {user_name}",
                    UserName=user_name,
                )
                for key in page.get("AccessKeyMetadata", [])
            ]
        except _Unreadable as exc:
            if _missing(exc):
                return ObservedUser(account_id=account_id, name=user_name, exists=False)
            raise
    except _Unreadable as exc:
        return exc.of(account_id)
    return ObservedUser(
        account_id=account_id,
        name=user_name,
        exists=True,
        inline_policies=inline,
        attached_policy_arns=attached,
        access_key_ids=frozenset(keys),
        tags=_tags(user["User"].get("Tags")),
    )


def _scan_account_roles(
    entry: _AuditEntry, account_id: str
) -> list[ObservedRole] | AccountUnreadable:
    try:
        iam = entry.iam(account_id)
        pages = _pages(
            account_id,
            iam,
            "list_roles",
            "ListRoles",
            PaginationConfig={"PageSize": SCAN_PAGE_SIZE},
        )
    except _Unreadable as exc:
        return exc.of(account_id)
    return [
        ObservedRole(
            account_id=account_id,
            name=str(role["RoleName"]),
            exists=True,
            trust_policy=_document(role.get("AssumeRolePolicyDocument")),
        )
        for page in pages
        for role in page.get("Roles", [])
    ]


def scan_account_roles(account_id: str) -> list[ObservedRole] | AccountUnreadable:
    """Every role of `account_id` with its trust policy only (ListRoles, paginated): what the
    organization-wide scan for outside principals needs. ListRoles returns no tags, no
    RoleLastUsed and no permissions, so those fields stay empty; a failed page makes the whole
    account unreadable rather than half-listed."""
    entry = _entry_or_unreadable(account_id)
    if isinstance(entry, AccountUnreadable):
        return entry
    return _scan_account_roles(entry, account_id)


_T = TypeVar("_T")


def _each_account(
    account_ids: Sequence[str],
    read: Callable[[_AuditEntry, str], _T],
    unreadable: Callable[[AccountUnreadable], _T],
    *,
    max_workers: int,
    progress: Callable[[int, int], None] | None,
    entry_of: Callable[[], _AuditEntry] = _AuditEntry,
) -> dict[str, _T]:
    total = len(account_ids)
    try:
        entry = entry_of()
    except _Unreadable as exc:
        # Without the entry hop no account can be read: each is reported, none is guessed.
        results = {account_id: unreadable(exc.of(account_id)) for account_id in account_ids}
        if progress is not None:
            progress(total, total)
        return results
    results = {}
    workers = max(1, min(max_workers, AUDIT_MAX_WORKERS, total or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aws-audit") as pool:
        futures = {pool.submit(read, entry, account_id): account_id for account_id in account_ids}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(done, total)
    return {account_id: results[account_id] for account_id in account_ids}


def read_accounts(
    plan: Mapping[str, Sequence[str]],
    *,
    max_workers: int = AUDIT_MAX_WORKERS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[ObservedRole | AccountUnreadable]]:
    """`read_roles` for each account of `plan` (account id -> role names), several accounts at
    once (at most `max_workers`, never more than `AUDIT_MAX_WORKERS`). One account's failure
    is that account's entries only. `progress(done, total)` is called in the calling thread
    after each account."""
    names = {account_id: list(role_names) for account_id, role_names in plan.items()}
    return _each_account(
        list(names),
        lambda entry, account_id: _read_roles(entry, account_id, names[account_id]),
        lambda unreadable: [unreadable for _ in names[unreadable.account_id]],
        max_workers=max_workers,
        progress=progress,
    )


def scan_accounts(
    account_ids: Iterable[str],
    *,
    max_workers: int = AUDIT_MAX_WORKERS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[ObservedRole] | AccountUnreadable]:
    """`scan_account_roles` for many accounts at once, as `read_accounts` does."""
    return _each_account(
        list(dict.fromkeys(account_ids)),
        _scan_account_roles,
        lambda unreadable: unreadable,
        max_workers=max_workers,
        progress=progress,
    )


# --- The AWS emulator playing the organization's accounts (issue 17, the demo's truth path) ---


def endpoint_is_emulator(url: str) -> bool:
    """Whether `url` (AWS_ENDPOINT_URL) is a local emulator rather than AWS."""
    return bool(url) and _is_loopback_endpoint(url)


def _emulator_iam(account_id: str) -> Any:
    """IAM of one emulated account as its admin (the role AWS Organizations creates there).
    Refuses anything but a loopback emulator: these calls change IAM."""
    if not endpoint_is_emulator(settings.AWS_ENDPOINT_URL):
        raise AwsError("refusing to change IAM: AWS_ENDPOINT_URL is not the local emulator")
    return aws_client(
        "iam", role_arn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole"
    )


def _trust_document(statements: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _delete_role(iam: Any, name: str) -> bool:
    try:
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    except ClientError as exc:
        if _error_code(exc) == "NoSuchEntity":
            return False
        raise
    for policy in attached:
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    iam.delete_role(RoleName=name)
    return True


def _role_trust(iam: Any, name: str) -> dict[str, Any] | None:
    try:
        return _document(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])
    except ClientError as exc:
        if _error_code(exc) == "NoSuchEntity":
            return None
        raise


def emulator_role_put(
    account_id: str,
    name: str,
    *,
    trust_statements: Sequence[Mapping[str, Any]],
    attached_policy_arns: Iterable[str] = (),
    inline_policies: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Creates (or makes exactly so) one role in an emulated account: what `terraform apply`
    or `substrate role create` would leave."""
    iam = _emulator_iam(account_id)
    if _role_trust(iam, name) is None:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust_document(trust_statements))
    else:
        iam.update_assume_role_policy(
            RoleName=name, PolicyDocument=_trust_document(trust_statements)
        )
    attached = {
        p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    }
    for arn in sorted(set(attached_policy_arns) - attached):
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    for arn in sorted(attached - set(attached_policy_arns)):
        iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    wanted = dict(inline_policies or {})
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        if policy_name not in wanted:
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    for policy_name, document in sorted(wanted.items()):
        iam.put_role_policy(
            RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
        )


def emulator_role_delete(account_id: str, name: str) -> bool:
    """Deletes one role of an emulated account (False: there was none)."""
    return _delete_role(_emulator_iam(account_id), name)


def emulator_trust_edit(
    account_id: str,
    name: str,
    *,
    add: Sequence[Mapping[str, Any]] = (),
    remove: Sequence[Mapping[str, Any]] = (),
) -> bool:
    """Adds statements to (or removes them from) the trust policy of an existing role, as
    Substrate does for its own roles and as a hand edit would. False: no such role."""
    iam = _emulator_iam(account_id)
    trust = _role_trust(iam, name)
    if trust is None:
        return False
    raw = trust.get("Statement", [])
    statements = [raw] if isinstance(raw, dict) else list(raw)
    statements = [s for s in statements if s not in list(remove)]
    statements += [dict(s) for s in add if s not in statements]
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=_trust_document(statements))
    return True


def emulator_user_put(
    account_id: str, name: str, *, inline_policies: Mapping[str, Mapping[str, Any]]
) -> None:
    iam = _emulator_iam(account_id)
    try:
        iam.create_user(UserName=name)
    except ClientError as exc:
        if _error_code(exc) != "EntityAlreadyExists":
            raise
    for policy_name, document in sorted(inline_policies.items()):
        iam.put_user_policy(
            UserName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
        )


def emulator_user_delete(account_id: str, name: str) -> bool:
    iam = _emulator_iam(account_id)
    try:
        policy_names = iam.list_user_policies(UserName=name)["PolicyNames"]
    except ClientError as exc:
        if _error_code(exc) == "NoSuchEntity":
            return False
        raise
    for policy_name in policy_names:
        iam.delete_user_policy(UserName=name, PolicyName=policy_name)
    for policy in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=name, PolicyArn=policy["PolicyArn"])
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)
    return True


# --- IAM Access Analyzer (real AWS only: the emulator has none) ---


def access_analyzer_findings(analyzer_arn: str) -> list[dict[str, Any]]:
    """The active external-access findings on IAM roles of the analyzer `analyzer_arn` (an
    organization analyzer sees every account), as ListFindings returns them, every page.
    Raises AwsError when the analyzer cannot be read: the caller reports it, never guesses."""
    region = analyzer_arn.split(":")[3] if analyzer_arn.count(":") >= 5 else settings.AWS_REGION
    session: Any = _session()
    client = session.client(
        "accessanalyzer",
        region_name=region or settings.AWS_REGION,
        endpoint_url=settings.AWS_ENDPOINT_URL or None,
        config=_audit_config(),
    )
    findings: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("list_findings").paginate(
            analyzerArn=analyzer_arn,
            filter={"status": {"eq": ["ACTIVE"]}, "resourceType": {"eq": ["AWS::IAM::Role"]}},
        ):
            findings.extend(page.get("findings", []))
    except (ClientError, BotoCoreError) as exc:
        # The code only, as for the audit reads: AWS's message text can echo request details.
        code = _error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        raise AwsError(f"AWS IAM Access Analyzer ListFindings failed: {code or 'Error'}") from exc
    return findings


# --- The emergency cut-off (issue 17): a vendor's access stopped at once, as break-glass -------

# The deny-all statement put inline on a grant-owned role. Unconditional on purpose: an
# explicit Deny wins over every Allow, for sessions already open as well as new ones (each of
# their calls is evaluated against the role's policies as they are now). AWS's own "Revoke
# active sessions" denies only sessions issued before a time (aws:TokenIssueTime); that would
# let the vendor assume the role again, so it is not enough here.
DENY_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
}
CUT_OFF_POLICY_NAME = "VendorAccessPortalCutOff"


@dataclass(frozen=True)
class CutOffAction:
    """One thing to stop in one account: `deny_role` (the grant's own role), `remove_trust`
    (the vendor's `statements` out of a shared Substrate role) or `deactivate_keys` (an IAM
    user's access keys)."""

    kind: str
    name: str
    statements: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class CutOffResult:
    """What one action did: `ok`, or a message naming the call and AWS's error code only
    (never AWS's own text, never credentials)."""

    account_id: str
    kind: str
    name: str
    ok: bool
    message: str = ""
    reason: str = ""  # access_denied, throttled, unreachable, error (as for reads)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "kind": self.kind,
            "name": self.name,
            "ok": self.ok,
            "message": self.message,
            "reason": self.reason,
        }


def _break_glass_entry() -> _AuditEntry:
    """The break-glass role is assumed with the portal's own credentials, never through the
    read-only entry hop: a role that may read every account must not also reach one that may
    change them."""
    if not settings.AWS_BREAK_GLASS_ROLE_NAME:
        raise _Unreadable("error", "no break-glass role is configured (AWS_BREAK_GLASS_ROLE_NAME)")
    return _AuditEntry(break_glass_role_arn, "vendor-access-portal-cut-off", entry_role_arn="")


def _deny_role(account_id: str, iam: Any, role_name: str, policy_name: str) -> str:
    _call(
        account_id,
        f"PutRolePolicy {role_name} {policy_name}",
        iam.put_role_policy,
        RoleName=role_name,
        PolicyName=policy_name,
        PolicyDocument=json.dumps(DENY_ALL),
    )
    return f"deny-all policy {policy_name} put on role {role_name}"


def _remove_trust(
    account_id: str, iam: Any, role_name: str, statements: Sequence[Mapping[str, Any]]
) -> str:
    role = _call(account_id, f"GetRole {role_name}", iam.get_role, RoleName=role_name)["Role"]
    trust = _document(role.get("AssumeRolePolicyDocument"))
    raw = trust.get("Statement", [])
    current = [raw] if isinstance(raw, dict) else list(raw)
    unwanted = [dict(s) for s in statements]
    kept = [s for s in current if s not in unwanted]
    removed = len(current) - len(kept)
    if not removed:
        return f"role {role_name} trusted none of the vendor's statements"
    trust["Statement"] = kept
    _call(
        account_id,
        f"UpdateAssumeRolePolicy {role_name}",
        iam.update_assume_role_policy,
        RoleName=role_name,
        PolicyDocument=json.dumps(trust),
    )
    return f"{removed} trust statement(s) removed from role {role_name}"


def _deactivate_keys(account_id: str, iam: Any, user_name: str) -> str:
    pages = _pages(
        account_id, iam, "list_access_keys", f"ListAccessKeys {user_name}", UserName=user_name
    )
    done = 0
    for page in pages:
        for key in page.get("AccessKeyMetadata", []):
            if key.get("Status") == "Active":
                _call(
                    account_id,
                    f"UpdateAccessKey {user_name}",
                    iam.update_access_key,
                    UserName=user_name,
                    AccessKeyId=key["AccessKeyId"],
                    Status="Inactive",
                )
                done += 1
    return f"{done} access key(s) of user {user_name} deactivated"


def _cut_off_one(account_id: str, iam: Any, action: CutOffAction, policy_name: str) -> CutOffResult:
    try:
        if action.kind == "deny_role":
            message = _deny_role(account_id, iam, action.name, policy_name)
        elif action.kind == "remove_trust":
            message = _remove_trust(account_id, iam, action.name, action.statements)
        elif action.kind == "deactivate_keys":
            message = _deactivate_keys(account_id, iam, action.name)
        else:
            raise ValueError(f"unknown cut-off action {action.kind!r}")
    except _Unreadable as exc:
        return CutOffResult(account_id, action.kind, action.name, False, exc.message, exc.reason)
    return CutOffResult(account_id, action.kind, action.name, True, message)


def _cut_off_account(
    entry: _AuditEntry, account_id: str, actions: Sequence[CutOffAction], policy_name: str
) -> list[CutOffResult]:
    try:
        iam = entry.iam(account_id)
    except _Unreadable as exc:
        return [
            CutOffResult(account_id, a.kind, a.name, False, exc.message, exc.reason)
            for a in actions
        ]
    # Every action is tried even after one failed: each one stops part of the access.
    return [_cut_off_one(account_id, iam, action, policy_name) for action in actions]


def cut_off_accounts(
    plan: Mapping[str, Sequence[CutOffAction]],
    *,
    policy_name: str = CUT_OFF_POLICY_NAME,
    max_workers: int = AUDIT_MAX_WORKERS,
) -> dict[str, list[CutOffResult]]:
    """Carries out `plan` (account id -> actions) as each account's break-glass role, several
    accounts at once as `read_accounts` does; one account's failure is that account's results
    only, and nothing is retried past boto3's own backoff (the caller reports it)."""
    actions = {account_id: list(items) for account_id, items in plan.items()}

    def failed(unreadable: AccountUnreadable) -> list[CutOffResult]:
        return [
            CutOffResult(
                unreadable.account_id, a.kind, a.name, False, unreadable.message, unreadable.reason
            )
            for a in actions[unreadable.account_id]
        ]

    return _each_account(
        list(actions),
        lambda entry, account_id: _cut_off_account(
            entry, account_id, actions[account_id], policy_name
        ),
        failed,
        max_workers=max_workers,
        progress=None,
        entry_of=_break_glass_entry,
    )


def _one(account_id: str, action: CutOffAction, policy_name: str) -> CutOffResult:
    return cut_off_accounts({account_id: [action]}, policy_name=policy_name)[account_id][0]


def cut_off_role(
    account_id: str, role_name: str, *, policy_name: str = CUT_OFF_POLICY_NAME
) -> CutOffResult:
    """Puts the deny-all inline policy on a grant-owned role, as the break-glass role."""
    return _one(account_id, CutOffAction("deny_role", role_name), policy_name)


def remove_trust_statements(
    account_id: str, role_name: str, statements: Sequence[Mapping[str, Any]]
) -> CutOffResult:
    """Removes the vendor's statements from a shared role's trust policy, as break-glass;
    the role's other statements stay."""
    return _one(
        account_id, CutOffAction("remove_trust", role_name, tuple(statements)), CUT_OFF_POLICY_NAME
    )


def deactivate_user_keys(account_id: str, user_name: str) -> CutOffResult:
    """Sets every active access key of an IAM user Inactive, as break-glass."""
    return _one(account_id, CutOffAction("deactivate_keys", user_name), CUT_OFF_POLICY_NAME)
