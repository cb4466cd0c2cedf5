"""Seeds an organization of any size quickly, for `make bench` and the query-count tests.

Rows are generated in Python from a fixed random seed and loaded with PostgreSQL's COPY, one
pass per table, so 100,000 requests load in seconds rather than the hours the services would
take. The services are bypassed on purpose; what they guarantee is rebuilt here:

- every request's status is reachable through `TRANSITIONS`, and its approvals, timestamps and
  audit events tell the same story (create, submit, decisions, provisioning, revocation);
- the audit events form a valid hash chain that continues from the current chain head, so
  `manage.py verify_audit_log` passes afterwards. The chain is computed here with the model's own
  `audit_event_hash`, and the append trigger (which checks one row at a time against the head) is
  switched off for the duration of the load only, inside the load's transaction.

PostgreSQL only (COPY, ALTER TABLE ... DISABLE TRIGGER, setval); the role must own the tables.
"""

from __future__ import annotations

import heapq
import json
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from accessportal.roles import Role
from approvals.models import STRATEGY_FIELDS, AccessRequest, Approval, Strategy
from approvals.workflow import snapshot as request_snapshot
from audit.models import AuditChainHead, AuditEvent, audit_event_hash
from audit.services import audit_snapshot
from inventory.models import AwsAccount
from vendors.models import (
    REVIEW_LIFECYCLE,
    ChecklistAnswer,
    ChecklistItem,
    SubprocessorReview,
    Vendor,
    VendorContact,
)
from vendors.services import tier_from_rubric

Status = AccessRequest.Status
ENVIRONMENTS = ("production", "staging", "development", "sandbox", "qa")
QUALITIES = ("alpha", "beta", "gamma", "default")
# Management, audit, deploy, network and the Substrate account exist in every organization.
SPECIAL_ACCOUNTS = ("management", "audit", "deploy", "network", "substrate")
SECURITY_USERS = 5
AUDITOR_USERS = 2
REQUESTER_USERS = 200
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"

# The status mix of a mature organization: most grants are live or ended.
STATUS_WEIGHTS = {
    Status.DRAFT: 5,
    Status.SUBMITTED: 8,
    Status.WITHDRAWN: 5,
    Status.REJECTED: 7,
    Status.APPROVED: 1,
    Status.PROVISIONING: 1,
    Status.PR_OPEN: 2,
    Status.FAILED: 1,
    Status.ACTIVE: 45,
    Status.EXPIRING: 5,
    Status.REVOKED: 20,
}
STRATEGY_WEIGHTS = {
    Strategy.ROLE_PER_ACCOUNT: 60,
    Strategy.HUB_ROLE: 15,
    Strategy.AUDITOR: 12,
    Strategy.ADMINISTRATOR: 3,
    Strategy.IAM_USER: 10,
}
LIVE = frozenset({Status.APPROVED, Status.PROVISIONING, Status.PR_OPEN, Status.ACTIVE})


@dataclass(frozen=True)
class Scale:
    accounts: int = 1000
    vendors: int = 5000
    requests: int = 100_000
    seed: int = 20261128
    # The share of all requests owned by the benchmark's own requester (the "My requests" page).
    requester_share: float = 0.05


@dataclass
class SeedResult:
    """What was loaded, and who to sign in as."""

    seconds: float
    rows: dict[str, int]
    security_username: str
    auditor_username: str
    requester_username: str
    # A live role-per-account request with many accounts, approvals and events (the request page).
    showcase_request_id: int
    chain_head_sequence: int


# --- COPY files ---------------------------------------------------------------------------------


def _escape(text: str) -> str:
    # Four replaces beat str.translate with a mapping several times over on short strings.
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return _escape(value)
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _json(value: Any) -> str:
    if value is None:
        return "\\N"
    if value == []:
        return "[]"
    return _escape(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


class CopyFile:
    """Rows of one table in COPY text format, spooled to a temporary file until loaded.

    Columns are the model's concrete fields; a row gives values by attname and every field it
    leaves out takes the model field's default, so a new field with a default needs no change.
    """

    def __init__(self, model: type[models.Model]) -> None:
        self.table = model._meta.db_table
        fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in fields]
        self.columns = [str(f.column) for f in fields]
        self.formats: list[Callable[[Any], str]] = [
            _json if isinstance(f, models.JSONField) else _text for f in fields
        ]
        self.defaults = {f.attname: f.get_default() for f in fields}
        self.file: IO[str] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by load()
            max_size=32 * 1024 * 1024, mode="w+", encoding="utf-8"
        )
        self.count = 0

    def add(self, **values: Any) -> None:
        defaults = self.defaults
        line = "\t".join(
            fmt(values[name] if name in values else defaults[name])
            for name, fmt in zip(self.attnames, self.formats, strict=True)
        )
        self.file.write(line + "\n")
        self.count += 1

    def load(self, cursor: Any) -> int:
        """COPYs the rows into the table and frees the file; returns the row count."""
        self.file.seek(0)
        columns = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        sql = f"COPY {connection.ops.quote_name(self.table)} ({columns}) FROM STDIN"
        with cursor.copy(sql) as copy:
            while chunk := self.file.read(1 << 20):
                copy.write(chunk)
        self.file.close()
        return self.count


def _next_id(cursor: Any, model: type[models.Model]) -> int:
    table = connection.ops.quote_name(model._meta.db_table)
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608 - model name
    return int(cursor.fetchone()[0])


# --- The audit chain ---------------------------------------------------------------------------


class AuditChain:
    """Audit events released in time order, each linked to the previous one by its hash.

    Events are queued as they are generated (per vendor, per request) and released once no
    event generated later can be older, so the chain is in time order without sorting the
    whole log in memory.
    """

    def __init__(self, rows: CopyFile, *, sequence: int, prev_hash: str, first_id: int) -> None:
        self.rows = rows
        self.sequence = sequence
        self.prev_hash = prev_hash
        self.next_id = first_id
        # (created_at, order of generation, values): the order breaks ties, never the values.
        self._queue: list[tuple[datetime, int, dict[str, Any]]] = []
        self._order = 0

    def add(
        self,
        when: datetime,
        *,
        actor: tuple[int, str] | None,
        action: str,
        obj: tuple[str, int, str],
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        object_type, object_id, object_repr = obj
        values = {
            "actor_id": actor[0] if actor else None,
            "actor_username": actor[1] if actor else "",
            "source_ip": f"10.20.{self._order % 250}.{self._order % 199 + 1}" if actor else None,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "object_repr": object_repr[:200],
            "before": before,
            "after": after,
        }
        self._order += 1
        heapq.heappush(self._queue, (when, self._order, values))

    def release_until(self, moment: datetime | None) -> None:
        """Writes every queued event older than `moment` (all of them for None)."""
        queue = self._queue
        while queue and (moment is None or queue[0][0] < moment):
            created_at, _, pending = heapq.heappop(queue)
            self.sequence += 1
            values = {
                **pending,
                "sequence": self.sequence,
                "created_at": created_at,
                "prev_hash": self.prev_hash,
            }
            values["hash"] = audit_event_hash(values)
            self.rows.add(id=self.next_id, **values)
            self.next_id += 1
            self.prev_hash = values["hash"]


# --- The organization ----------------------------------------------------------------------


def _weighted(rng: random.Random, weights: dict[Any, int]) -> Callable[[], Any]:
    population = list(weights)
    cumulative = []
    total = 0
    for key in population:
        total += weights[key]
        cumulative.append(total)

    def pick() -> Any:
        return rng.choices(population, cum_weights=cumulative)[0]

    return pick


def _users(scale: Scale, now: datetime) -> dict[str, list[tuple[int, str]]]:
    """Security members, auditors and requesters (the first of each is the bench's user)."""
    user_model = get_user_model()
    unusable = make_password(None)
    existing = set(user_model.objects.values_list("username", flat=True))
    people: dict[str, list[str]] = {
        "security": [f"bench-security-{i}" for i in range(SECURITY_USERS)],
        "auditors": [f"bench-auditor-{i}" for i in range(AUDITOR_USERS)],
        "requesters": [f"bench-requester-{i}" for i in range(REQUESTER_USERS)],
    }
    new = [
        user_model(
            username=name,
            email=f"{name}@example.com",
            password=unusable,
            date_joined=now - timedelta(days=800),
            # Security and auditors use the admin too.
            is_staff=role != "requesters",
        )
        for role, names in people.items()
        for name in names
        if name not in existing
    ]
    user_model.objects.bulk_create(new, batch_size=1000)
    ids = dict(
        user_model.objects.filter(
            username__in=[n for names in people.values() for n in names]
        ).values_list("username", "pk")
    )
    for role in (Role.SECURITY, Role.AUDITORS):
        group = Group.objects.get_or_create(name=role.value)[0]
        group.user_set.add(*(ids[n] for n in people[role.value]))
    return {role: [(ids[n], n) for n in names] for role, names in people.items()}


def _accounts(scale: Scale, cursor: Any, now: datetime) -> list[dict[str, Any]]:
    """Five special accounts and service accounts over domains x environments x qualities."""
    rows = CopyFile(AwsAccount)
    next_id = _next_id(cursor, AwsAccount)
    first_number = 100_000_000_000 + next_id
    accounts: list[dict[str, Any]] = []

    def add(account_type: str, domain: str = "", environment: str = "", quality: str = "") -> None:
        number = first_number + len(accounts)
        name = "-".join(p for p in (domain, environment, quality) if p) or account_type
        account = {
            "id": next_id + len(accounts),
            "account_id": f"{number:012d}",
            "name": name,
            "email": f"aws+{name}@example.com",
            "account_type": account_type,
            "domain": domain,
            "environment": environment,
            "quality": quality,
            "substrate_version": "2024.08",
            "tags": {"SubstrateType": account_type, "Domain": domain, "Environment": environment},
            "status": AwsAccount.Status.ACTIVE,
            "first_seen_at": now - timedelta(days=900),
            "last_seen_at": now - timedelta(hours=1),
        }
        rows.add(**account)
        accounts.append(account)

    for special in SPECIAL_ACCOUNTS[: max(0, min(len(SPECIAL_ACCOUNTS), scale.accounts - 1))]:
        add(special)
    per_domain = len(ENVIRONMENTS) * len(QUALITIES)
    domain_number = 0
    while len(accounts) < scale.accounts:
        domain = f"domain{domain_number:03d}"
        for index in range(per_domain):
            if len(accounts) >= scale.accounts:
                break
            add(
                "service",
                domain,
                ENVIRONMENTS[index // len(QUALITIES)],
                QUALITIES[index % len(QUALITIES)],
            )
        domain_number += 1
    rows.load(cursor)
    return [a for a in accounts if a["account_type"] == "service"]


def _vendor_rows(
    scale: Scale,
    cursor: Any,
    rng: random.Random,
    users: dict[str, list[tuple[int, str]]],
    chain: AuditChain,
    start: datetime,
    now: datetime,
) -> tuple[list[tuple[int, str, str, str]], dict[str, int]]:
    """Vendors, a contact each, their reviews (with answers) and the vendors' audit events.

    Returns the active vendors as (id, slug, name, tier) and the row counts.
    """
    vendors = CopyFile(Vendor)
    contacts = CopyFile(VendorContact)
    reviews = CopyFile(SubprocessorReview)
    answers = CopyFile(ChecklistAnswer)
    items = list(
        ChecklistItem.objects.filter(active=True).values_list(
            "pk", "code", "text", "evidence_required", "blocking_tiers"
        )
    )
    vendor_id = _next_id(cursor, Vendor)
    contact_id = _next_id(cursor, VendorContact)
    review_id = _next_id(cursor, SubprocessorReview)
    answer_id = _next_id(cursor, ChecklistAnswer)
    today = timezone.localdate()
    security = users["security"]
    requesters = users["requesters"]
    active: list[tuple[int, str, str, str]] = []
    sensitivities = ("none", "internal", "internal", "confidential", "customer")
    access_levels = ("none", "read", "read", "write", "admin")
    criticalities = ("low", "medium", "medium", "high")

    def review(
        vendor: tuple[int, str, str],
        tier: str,
        status: str,
        created: datetime,
        *,
        blocking_open: bool = False,
    ) -> None:
        nonlocal review_id, answer_id
        pk, _slug, name = vendor
        author = rng.choice(requesters)
        decider = rng.choice(security)
        submitted = created + timedelta(days=rng.randint(1, 10))
        decided = submitted + timedelta(days=rng.randint(1, 10))
        is_decided = status in REVIEW_LIFECYCLE.group("decided")
        next_review_due = (decided + timedelta(days=365)).date() if is_decided else None
        period_end = (decided - timedelta(days=rng.randint(30, 200))).date()
        row = {
            "id": review_id,
            "vendor_id": pk,
            "status": status,
            "tier_at_review": tier,
            "report_type": "soc2_type2",
            "scope_covers_service": True,
            "trust_services_categories": ["security", "availability"],
            "period_start": period_end - timedelta(days=365),
            "period_end": period_end,
            "report_issued_on": period_end + timedelta(days=20),
            "auditor_firm": "Example Assurance LLP",
            "opinion": "unqualified",
            "residual_risk": tier if is_decided else "",
            "created_by_id": author[0],
            "created_at": created,
            "submitted_by_id": author[0] if status != "draft" else None,
            "submitted_at": submitted if status != "draft" else None,
            "decided_by_id": decider[0] if is_decided else None,
            "decided_at": decided if is_decided else None,
            "decision_comment": "Report reviewed; CUECs mapped." if is_decided else "",
            "conditions": "Re-check the bridge letter." if status == "conditional" else "",
            "next_review_due": next_review_due,
        }
        reviews.add(**row)
        repr_ = f"Review of {name}"
        obj = ("vendors.subprocessorreview", review_id, repr_)
        chain.add(created, actor=author, action="review.start", obj=obj, after={"status": "draft"})
        if status != "draft":
            chain.add(
                submitted,
                actor=author,
                action="review.submit",
                obj=obj,
                before={"status": "draft"},
                after={"status": "submitted"},
            )
        if is_decided:
            chain.add(
                decided,
                actor=decider,
                action="review.decide",
                obj=obj,
                before={"status": "submitted"},
                after={"status": status, "next_review_due": str(next_review_due)},
            )
        for index, (item_id, code, text, evidence, blocking_tiers) in enumerate(items):
            blocking = tier in (blocking_tiers or [])
            answer = "no" if blocking_open and blocking and index % 3 == 0 else "yes"
            answers.add(
                id=answer_id,
                review_id=review_id,
                item_id=item_id,
                item_code=code,
                item_text=text,
                evidence_required=evidence,
                blocking=blocking,
                answer=answer if status != "draft" else "",
            )
            answer_id += 1
        review_id += 1

    for number in range(scale.vendors):
        pk = vendor_id + number
        # Named after the id, so a second seeding adds vendors instead of colliding.
        slug = f"vendor-{pk:05d}"
        name = f"Vendor {pk:05d}"
        sensitivity = rng.choice(sensitivities)
        access_level = rng.choice(access_levels)
        criticality = rng.choice(criticalities)
        tier = tier_from_rubric(
            data_sensitivity=sensitivity, access_level=access_level, criticality=criticality
        ).value
        owner = rng.choice(requesters)
        created = start - timedelta(days=rng.uniform(0, 60))
        offboarded = rng.random() < 0.03
        registered = {
            "id": pk,
            "name": name,
            "slug": slug,
            "legal_name": f"{name} Inc.",
            "service": rng.choice(("Monitoring", "CI/CD", "Log analytics", "Security scanning")),
            "website": f"https://{slug}.example.com",
            "purpose": "Observability of our AWS workloads.",
            "internal_owner_id": owner[0],
            "data_sensitivity": sensitivity,
            "access_level": access_level,
            "criticality": criticality,
            "tier": tier,
            "data_categories": ["logs"],
            "storage_regions": "eu-west-1",
            "processing_regions": "eu-west-1",
            "status": Vendor.Status.ACTIVE,
            "created_by_id": owner[0],
            "created_at": created,
            "updated_at": created,
        }
        # The events carry the record as the services snapshot it: the subprocessor report
        # rebuilds each vendor as of a date from them.
        chain.add(
            created,
            actor=owner,
            action="vendor.create",
            obj=("vendors.vendor", pk, name),
            after=audit_snapshot(Vendor(**registered)),
        )
        if offboarded:
            ended = {
                **registered,
                "status": Vendor.Status.OFFBOARDED,
                "offboarded_on": today - timedelta(days=10),
            }
            chain.add(
                now - timedelta(days=10),
                actor=security[0],
                action="vendor.offboard",
                obj=("vendors.vendor", pk, name),
                before=audit_snapshot(Vendor(**registered)),
                after=audit_snapshot(Vendor(**ended)),
            )
            registered = ended
        vendors.add(**registered)
        contacts.add(
            id=contact_id + number,
            vendor_id=pk,
            name=f"Contact {number}",
            email=f"security@{slug}.example.com",
            role="Security lead",
            receives_access_keys=True,
        )
        vendor = (pk, slug, name)
        # 5% never reviewed, 5% with a first review still in draft or submitted; the rest have
        # an approved first review and, for most, a later one decided within the last 400 days.
        roll = rng.random()
        if roll < 0.05:
            pass
        elif roll < 0.10:
            review(vendor, tier, rng.choice(("draft", "submitted")), created + timedelta(days=2))
        else:
            review(vendor, tier, "approved", created + timedelta(days=2))
            if roll < 0.92:
                latest = now - timedelta(days=rng.uniform(25, 420))
                status = "conditional" if rng.random() < 0.1 else "approved"
                review(vendor, tier, status, latest, blocking_open=rng.random() < 0.05)
            if 0.92 <= roll < 0.95:
                review(vendor, tier, "submitted", now - timedelta(days=rng.uniform(12, 30)))
        if not offboarded:
            active.append((pk, slug, name, tier))

    counts = {}
    for rows in (vendors, contacts, reviews, answers):
        counts[rows.table] = rows.load(cursor)
    return active, counts


def _preview(slug: str, role: str, accounts: list[dict[str, Any]]) -> dict[str, Any]:
    """A change preview shaped like `approvals.requests.compute_preview`'s, one file per account."""
    files = [
        {
            "action": "create",
            "path": f"modules/{a['domain']}/{a['environment']}/{a['quality']}/{slug}.tf",
            "content": (
                f'module "{slug}" {{\n  source    = "../../../vendor-role"\n'
                f'  role_name = "{role}"\n  account   = "{a["account_id"]}"\n}}\n'
            ),
        }
        for a in accounts
    ]
    return {
        "commit": "0" * 40,
        "files": files,
        "commands": [f"substrate account update -domain {accounts[0]['domain']}"]
        if accounts
        else [],
        "warnings": [],
    }


def _requests(
    scale: Scale,
    cursor: Any,
    rng: random.Random,
    users: dict[str, list[tuple[int, str]]],
    vendors: list[tuple[int, str, str, str]],
    service_accounts: list[dict[str, Any]],
    chain: AuditChain,
    start: datetime,
    now: datetime,
) -> tuple[int, dict[str, int]]:
    """Requests, their target accounts, approvals and audit events, in creation order."""
    requests = CopyFile(AccessRequest)
    targets = CopyFile(AccessRequest.target_accounts.through)
    approvals = CopyFile(Approval)
    request_id = _next_id(cursor, AccessRequest)
    target_id = _next_id(cursor, AccessRequest.target_accounts.through)
    approval_id = _next_id(cursor, Approval)
    today = timezone.localdate()
    by_domain: dict[str, list[dict[str, Any]]] = {}
    for account in service_accounts:
        by_domain.setdefault(account["domain"], []).append(account)
    domains = sorted(by_domain)
    security = users["security"]
    bench_requester = users["requesters"][0]
    other_requesters = users["requesters"][1:] or users["requesters"]
    pick_status = _weighted(rng, STATUS_WEIGHTS)
    pick_strategy = _weighted(rng, STRATEGY_WEIGHTS)
    labels = {s.value: str(s.label) for s in Strategy}
    span = (now - timedelta(days=2) - start).total_seconds()
    # The request page shows the richest live role-per-account request (any, at tiny sizes).
    showcase: tuple[bool, int, int] = (False, -1, -1)
    last = now - timedelta(minutes=1)

    for number in range(scale.requests):
        pk = request_id + number
        created = start + timedelta(seconds=span * number / max(1, scale.requests))
        chain.release_until(created)
        vendor_id, slug, vendor_name, _tier = vendors[rng.randrange(len(vendors))]
        requester = bench_requester if rng.random() < scale.requester_share else None
        requester = requester or other_requesters[rng.randrange(len(other_requesters))]
        status = pick_status()
        strategy = pick_strategy()
        uses = STRATEGY_FIELDS[strategy]
        chosen: list[dict[str, Any]] = []
        selection: tuple[list[str], list[str], list[str]] = ([], [], [])
        if "accounts" in uses and domains:
            domain = domains[rng.randrange(len(domains))]
            environments = sorted(rng.sample(ENVIRONMENTS, rng.randint(1, 2)))
            qualities = ["*"] if rng.random() < 0.3 else sorted(rng.sample(QUALITIES, 1))
            selection = ([domain], environments, qualities)
            chosen = [
                a
                for a in by_domain[domain]
                if a["environment"] in environments
                and ("*" in qualities or a["quality"] in qualities)
            ]
        rich = status == Status.ACTIVE and strategy == Strategy.ROLE_PER_ACCOUNT
        showcase = max(showcase, (rich, len(chosen), pk))
        admin_like = strategy == Strategy.ADMINISTRATOR
        production = admin_like or strategy == Strategy.AUDITOR
        production = production or any(a["environment"] == "production" for a in chosen)
        risk = "critical" if admin_like else ("high" if production else "medium")
        required = 2 if risk in ("high", "critical") or strategy == Strategy.IAM_USER else 1
        role_name = "".join(p.capitalize() for p in slug.split("-")) + "Access"
        submitted = created + timedelta(hours=rng.uniform(0.1, 48))
        decided = submitted + timedelta(hours=rng.uniform(1, 72))
        if status == Status.EXPIRING:
            expires_on = today + timedelta(days=rng.randint(1, 30))
        elif status in LIVE:
            expires_on = today + timedelta(days=rng.randint(1, 365))
        elif status == Status.REVOKED:
            expires_on = min(today, created.date() + timedelta(days=rng.randint(30, 365)))
        else:
            expires_on = created.date() + timedelta(days=rng.randint(30, 365))
        request_row = dict(
            id=pk,
            vendor_id=vendor_id,
            requester_id=requester[0],
            status=status,
            strategy=strategy,
            principals=["arn:aws:iam::999900001111:role/VendorAccess"]
            if "principals" in uses
            else [],
            external_id=f"ext-{pk}" if "principals" in uses else "",
            target_domains=selection[0],
            target_environments=selection[1],
            target_qualities=selection[2],
            role_name=role_name if "role_name" in uses else "",
            policy_source="managed" if "permissions" in uses else "",
            managed_policy_arns=[ADMIN if admin_like else READ_ONLY]
            if "permissions" in uses
            else [],
            justification="Read-only monitoring of our workloads.",
            expires_on=expires_on,
            risk_level=risk,
            risk_reasons=["Touches production accounts."] if production else [],
            admin_equivalent=admin_like,
            required_approvals=required,
            preview=_preview(slug, role_name, chosen),
            created_at=created,
            updated_at=min(last, decided),
            submitted_at=None if status == Status.DRAFT else submitted,
        )
        requests.add(**request_row)
        for account in chosen:
            targets.add(id=target_id, accessrequest_id=pk, awsaccount_id=account["id"])
            target_id += 1

        obj = ("approvals.accessrequest", pk, f"#{pk} {vendor_name} ({labels[strategy]})")

        def step(
            when: datetime,
            action: str,
            before: str | None,
            after: str,
            actor: tuple[int, str] | None,
            obj: tuple[str, int, str] = obj,
        ) -> None:
            chain.add(
                min(when, last),
                actor=actor,
                action=action,
                obj=obj,
                before={"status": before} if before else None,
                after={"status": after},
            )

        # As `request_save` records it: the draft's snapshot (the report reads its end date).
        chain.add(
            created,
            actor=requester,
            action="request.create",
            obj=obj,
            after=request_snapshot(AccessRequest(**{**request_row, "status": Status.DRAFT})),
        )
        if status == Status.DRAFT:
            continue
        if status == Status.WITHDRAWN and rng.random() < 0.5:
            step(submitted, "request.withdraw", Status.DRAFT, Status.WITHDRAWN, requester)
            continue
        step(submitted, "request.submit", Status.DRAFT, Status.SUBMITTED, requester)
        if status == Status.SUBMITTED:
            continue
        if status == Status.WITHDRAWN:
            step(decided, "request.withdraw", Status.SUBMITTED, Status.WITHDRAWN, requester)
            continue
        deciders = rng.sample(security, min(len(security), required))
        if status == Status.REJECTED:
            approvals.add(
                id=approval_id,
                access_request_id=pk,
                approver_id=deciders[0][0],
                decision=Approval.Decision.REJECT,
                comment="Too broad.",
                mfa_verified=True,
                created_at=min(decided, last),
            )
            approval_id += 1
            step(decided, "request.reject", Status.SUBMITTED, Status.REJECTED, deciders[0])
            continue
        for index, decider in enumerate(deciders):
            when = decided + timedelta(minutes=30 * index)
            approvals.add(
                id=approval_id,
                access_request_id=pk,
                approver_id=decider[0],
                decision=Approval.Decision.APPROVE,
                mfa_verified=True,
                created_at=min(when, last),
            )
            approval_id += 1
            if index + 1 < len(deciders):
                chain.add(
                    min(when, last),
                    actor=decider,
                    action="request.approval_recorded",
                    obj=obj,
                    after={"approvals": index + 1, "required": required},
                )
        approved_at = decided + timedelta(minutes=30 * (len(deciders) - 1))
        step(approved_at, "request.approve", Status.SUBMITTED, Status.APPROVED, deciders[-1])
        if status == Status.APPROVED:
            continue
        provisioned = approved_at + timedelta(minutes=1)
        step(provisioned, "request.provision", Status.APPROVED, Status.PROVISIONING, None)
        if status == Status.PROVISIONING:
            continue
        if status == Status.FAILED:
            step(provisioned, "request.provision_fail", Status.PROVISIONING, Status.FAILED, None)
            continue
        opened = provisioned + timedelta(minutes=2)
        step(opened, "request.pr_open", Status.PROVISIONING, Status.PR_OPEN, None)
        if status == Status.PR_OPEN:
            continue
        merged = opened + timedelta(hours=rng.uniform(1, 48))
        step(merged, "request.activate", Status.PR_OPEN, Status.ACTIVE, deciders[0])
        if status == Status.EXPIRING:
            warned = datetime.combine(expires_on, merged.timetz()) - timedelta(days=30)
            step(
                max(warned, merged),
                "request.expiring",
                Status.ACTIVE,
                Status.EXPIRING,
                None,
            )
        elif status == Status.REVOKED:
            ended = datetime.combine(expires_on, merged.timetz())
            step(max(ended, merged), "request.revoke", Status.ACTIVE, Status.REVOKED, security[0])

    chain.release_until(None)
    counts = {}
    for rows in (requests, targets, approvals):
        counts[rows.table] = rows.load(cursor)
    return showcase[2], counts


def seed_organization(scale: Scale, *, log: Callable[[str], None] | None = None) -> SeedResult:
    """Loads an organization of `scale` into the default database, in one transaction."""
    started = time.perf_counter()
    say = log or (lambda message: None)
    rng = random.Random(scale.seed)  # noqa: S311 - reproducible data, not secrets
    now = timezone.now()
    start = now - timedelta(days=730)
    rows: dict[str, int] = {}
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor, for COPY
        users = _users(scale, now)
        say(f"users in {time.perf_counter() - started:.1f} s")
        service_accounts = _accounts(scale, cursor, now)
        rows[AwsAccount._meta.db_table] = scale.accounts
        head = AuditChainHead.objects.select_for_update().get_or_create(
            pk=AuditChainHead.SINGLETON_ID
        )[0]
        events = CopyFile(AuditEvent)
        chain = AuditChain(
            events,
            sequence=head.sequence,
            prev_hash=head.hash,
            first_id=_next_id(cursor, AuditEvent),
        )
        vendors, counts = _vendor_rows(scale, cursor, rng, users, chain, start, now)
        rows.update(counts)
        say(f"vendors and reviews in {time.perf_counter() - started:.1f} s")
        showcase, counts = _requests(
            scale, cursor, rng, users, vendors, service_accounts, chain, start, now
        )
        rows.update(counts)
        say(f"requests generated and loaded in {time.perf_counter() - started:.1f} s")
        # The per-row append check compares each row with the head, which only moves once the
        # whole chain is in: it is off for this load, in this transaction, and back on after.
        # ALTER TABLE needs the deferred foreign-key checks queued so far to have run.
        for sql in (
            "SET CONSTRAINTS ALL IMMEDIATE",
            "ALTER TABLE approvals_auditevent DISABLE TRIGGER approvals_auditevent_extends_head",
        ):
            cursor.execute(sql)
        rows[AuditEvent._meta.db_table] = events.load(cursor)
        for sql in (
            "SET CONSTRAINTS ALL IMMEDIATE",
            "ALTER TABLE approvals_auditevent ENABLE TRIGGER approvals_auditevent_extends_head",
            "ALTER TABLE approvals_auditchainhead DISABLE TRIGGER approvals_auditchainhead_advance",
        ):
            cursor.execute(sql)
        cursor.execute(
            "UPDATE approvals_auditchainhead SET sequence = %s, hash = %s WHERE id = %s",
            [chain.sequence, chain.prev_hash, AuditChainHead.SINGLETON_ID],
        )
        for sql in (
            "SET CONSTRAINTS ALL IMMEDIATE",
            "ALTER TABLE approvals_auditchainhead ENABLE TRIGGER approvals_auditchainhead_advance",
            "SET CONSTRAINTS ALL DEFERRED",
        ):
            cursor.execute(sql)
        say(f"audit events loaded in {time.perf_counter() - started:.1f} s")
        models_with_ids: list[type[models.Model]] = [
            AwsAccount,
            Vendor,
            VendorContact,
            SubprocessorReview,
            ChecklistAnswer,
            AccessRequest,
            AccessRequest.target_accounts.through,
            Approval,
            AuditEvent,
        ]
        for sql in connection.ops.sequence_reset_sql(no_style(), models_with_ids):
            cursor.execute(sql)
    return SeedResult(
        seconds=time.perf_counter() - started,
        rows=rows,
        security_username=users["security"][0][1],
        auditor_username=users["auditors"][0][1],
        requester_username=users["requesters"][0][1],
        showcase_request_id=showcase,
        chain_head_sequence=chain.sequence,
    )


def vacuum_analyze() -> None:
    """Brings the tables to the state autovacuum keeps them in: planner statistics up to date
    and the visibility map set (index-only scans, such as COUNT(*) on an index, rely on it).
    Runs outside a transaction, as VACUUM must."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
