"""Recording audit events: the hash chain, what each event holds, and JSON-safe snapshots."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.db import transaction
from django.db.models import ProtectedError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accessportal.roles import Role
from audit.models import GENESIS_HASH, HASHED_FIELDS, AuditChainHead, AuditEvent, audit_event_hash
from audit.services import audit_events_for, audit_record, audit_snapshot, audit_verify

pytestmark = pytest.mark.django_db

_FIELDS: dict[str, Any] = {
    "sequence": 7,
    "created_at": dt.datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=dt.UTC),
    "actor_id": 3,
    "actor_username": "sam",
    "source_ip": "192.0.2.10",
    "action": "review.decide",
    "object_type": "vendors.subprocessorreview",
    "object_id": "12",
    "object_repr": "Acme SOC 2 (2025)",
    "before": {"decision": "pending"},
    "after": {"decision": "approved", "notes": "Ünïcode ok"},
    "prev_hash": "ab" * 32,
}


def _stored_hash_is_valid(event: AuditEvent) -> bool:
    stored = AuditEvent.objects.get(pk=event.pk)
    return audit_event_hash(stored.hashed_fields()) == stored.hash


# --- The hash function ------------------------------------------------------------------------


def test_hash_is_sha256_of_the_documented_canonical_json():
    # Written out by hand, so that an outside verifier can reproduce it without our code.
    canonical = (
        '{"action":"review.decide","actor_id":3,"actor_username":"sam",'
        '"after":{"decision":"approved","notes":"Ünïcode ok"},"before":{"decision":"pending"},'
        '"created_at":"2025-03-01T12:30:05.123456+00:00","object_id":"12",'
        '"object_repr":"Acme SOC 2 (2025)","object_type":"vendors.subprocessorreview",'
        f'"prev_hash":"{"ab" * 32}","sequence":7,"source_ip":"192.0.2.10"}}'
    )
    assert audit_event_hash(_FIELDS) == hashlib.sha256(canonical.encode()).hexdigest()
    # Pinned: changing the serialisation would make every stored event fail verification.
    assert audit_event_hash(_FIELDS) == (
        "4d4f4b14d9bc0bf9237684b6e8b712f1a1e8dd6f8ab317b41bdfd786e6ede6cb"
    )


def test_hash_depends_on_every_field_but_not_on_the_time_zone_of_created_at():
    base = audit_event_hash(_FIELDS)
    in_paris = _FIELDS["created_at"].astimezone(ZoneInfo("Europe/Paris"))
    assert audit_event_hash({**_FIELDS, "created_at": in_paris}) == base
    for name in HASHED_FIELDS:
        changed = {**_FIELDS}
        if name == "created_at":
            changed[name] = _FIELDS[name] + dt.timedelta(microseconds=1)
        elif name in ("sequence", "actor_id"):
            changed[name] = _FIELDS[name] + 1
        elif name in ("before", "after"):
            changed[name] = {**_FIELDS[name], "x": 1}
        else:
            changed[name] = _FIELDS[name] + "0"
        assert audit_event_hash(changed) != base, name


def test_hash_refuses_naive_times_and_missing_or_extra_fields():
    with pytest.raises(ValueError, match="timezone-aware"):
        audit_event_hash({**_FIELDS, "created_at": dt.datetime(2025, 3, 1)})  # noqa: DTZ001
    without_ip = {k: v for k, v in _FIELDS.items() if k != "source_ip"}
    with pytest.raises(ValueError, match="source_ip"):
        audit_event_hash(without_ip)
    with pytest.raises(ValueError, match="colour"):
        audit_event_hash({**_FIELDS, "colour": "red"})


# --- The chain --------------------------------------------------------------------------------


def test_first_event_links_to_the_genesis_hash():
    event = audit_record(actor=None, action="system.start")
    assert event.sequence == 1
    assert event.prev_hash == GENESIS_HASH
    assert len(event.hash) == 64
    assert int(event.hash, 16) >= 0  # hex
    assert event.hash != GENESIS_HASH
    head = AuditChainHead.objects.get()
    assert (head.sequence, head.hash) == (1, event.hash)


def test_each_event_links_to_the_previous_one_and_sequences_have_no_gaps(make_user):
    sam = make_user("sam", Role.SECURITY)
    events = [audit_record(actor=sam, action=f"vendor.step_{n}") for n in range(5)]
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    for previous, current in itertools.pairwise(events):
        assert current.prev_hash == previous.hash
    assert all(_stored_hash_is_valid(e) for e in events)
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4, 5]
    assert audit_verify().ok
    assert audit_verify().checked == 5
    assert AuditChainHead.objects.get().sequence == 5


def test_a_rolled_back_transaction_takes_its_event_and_sequence_number_with_it():
    audit_record(actor=None, action="system.one")

    @transaction.atomic
    def failing_service() -> None:
        audit_record(actor=None, action="system.doomed")
        raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        failing_service()
    after = audit_record(actor=None, action="system.two")
    assert after.sequence == 2
    assert not AuditEvent.objects.filter(action="system.doomed").exists()
    assert audit_verify().ok


def test_created_at_is_set_by_the_service_and_never_decreases():
    events = [audit_record(actor=None, action="system.tick") for _ in range(3)]
    times = [e.created_at for e in events]
    assert all(t.tzinfo is not None for t in times)
    assert times == sorted(times)


# --- What an event holds ----------------------------------------------------------------------


def test_event_describes_actor_and_object_on_its_own(make_user):
    sam = make_user("sam", Role.SECURITY)
    group = Group.objects.create(name="vendors-<b>")
    event = audit_record(
        actor=sam,
        action="group.rename",
        obj=group,
        before={"name": "old"},
        after={"name": group.name},
        source_ip="198.51.100.4",
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor_id == sam.pk
    assert stored.actor_username == "sam"
    assert stored.object_type == "auth.group"
    assert stored.object_id == str(group.pk)
    assert stored.object_repr == "vendors-<b>"
    assert stored.source_ip == "198.51.100.4"
    assert (stored.before, stored.after) == ({"name": "old"}, {"name": "vendors-<b>"})


def test_system_and_anonymous_actors_are_recorded_as_no_one():
    for actor in (None, AnonymousUser()):
        event = audit_record(actor=actor, action="system.sync")
        assert event.actor_id is None
        assert event.actor_username == ""
    assert audit_verify().ok


def test_object_repr_is_truncated_and_may_be_given_explicitly(make_user):
    sam = make_user("sam")
    event = audit_record(actor=sam, action="user.note", obj=sam, object_repr="x" * 500)
    assert event.object_repr == "x" * 200
    assert _stored_hash_is_valid(event)


@pytest.mark.parametrize(
    "action",
    ["vendor", "Vendor.create", "vendor.", ".create", "vendor..create", "vendor.create ",
     "vendor-x.create", "1vendor.create", "vendor.Create", ""],
)  # fmt: skip
def test_malformed_actions_are_refused(action):
    with pytest.raises(ValueError, match="action"):
        audit_record(actor=None, action=action)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("action", ["vendor.create", "access_request.approve", "a.b2.c_d"])
def test_dotted_actions_are_accepted(action):
    assert audit_record(actor=None, action=action).action == action


def test_unsaved_objects_and_bad_addresses_are_refused(make_user):
    with pytest.raises(ValueError, match="saved"):
        audit_record(actor=None, action="group.create", obj=Group(name="unsaved"))
    with pytest.raises(ValueError, match="not an IP"):
        audit_record(actor=None, action="system.x", source_ip="not-an-ip")
    with pytest.raises(TypeError, match="dict"):
        audit_record(actor=None, action="system.x", after=["a list"])  # type: ignore[arg-type]
    assert not AuditEvent.objects.exists()


def test_users_with_audit_events_cannot_be_deleted(make_user):
    sam = make_user("sam")
    audit_record(actor=sam, action="vendor.create")
    with pytest.raises(ProtectedError):
        sam.delete()
    assert AuditEvent.objects.get().actor_id == sam.pk


@pytest.mark.parametrize(
    ("given_ip", "stored_ip"),
    [
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("2001:db8::1:0:0:1", "2001:db8::1:0:0:1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::", "::"),
        ("  192.0.2.3 ", "192.0.2.3"),
    ],
)
def test_addresses_are_stored_in_the_form_that_was_hashed(given_ip, stored_ip):
    event = audit_record(actor=None, action="system.x", source_ip=given_ip)
    assert AuditEvent.objects.get(pk=event.pk).source_ip == stored_ip
    assert _stored_hash_is_valid(event)


def test_audit_events_for_returns_one_objects_timeline(make_user):
    sam, kim = make_user("sam"), make_user("kim")
    first = audit_record(actor=sam, action="user.one", obj=kim)
    audit_record(actor=sam, action="user.other", obj=sam)
    second = audit_record(actor=sam, action="user.two", obj=kim)
    assert list(audit_events_for(kim)) == [first, second]


# --- JSON-safe values -------------------------------------------------------------------------


def test_snapshot_holds_concrete_fields_with_foreign_keys_as_ids_and_no_password(make_user):
    sam = make_user("sam", first_name="Sam")
    snapshot = audit_snapshot(sam)
    assert snapshot["username"] == "sam"
    assert snapshot["first_name"] == "Sam"
    assert snapshot["date_joined"] == sam.date_joined.isoformat()
    assert "password" not in snapshot
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert audit_snapshot(sam, ["username", "is_active"]) == {"username": "sam", "is_active": True}
    with pytest.raises(ValueError, match="no_such_field"):
        audit_snapshot(sam, ["no_such_field"])


def test_values_are_made_json_safe_before_hashing_so_stored_equals_hashed(make_user):
    sam = make_user("sam")
    after = {
        "when": dt.datetime(2025, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC),
        "day": dt.date(2025, 1, 2),
        "price": Decimal("10.50"),
        "ratio": 1e16,  # jsonb would give this back as 10000000000000000
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "owner": sam,
        "secret": b"ciphertext!",
        "tags": {"b", "a"},
        "nested": {1: ("x", None)},
        "nul": "a\x00b",
        "role": Role.SECURITY,
    }
    event = audit_record(actor=sam, action="vendor.update", after=after)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (
        stored.after
        == event.after
        == {
            "when": "2025-01-02T03:04:05.600000+00:00",
            "day": "2025-01-02",
            "price": "10.50",
            "ratio": "1e+16",
            "id": "12345678-1234-5678-1234-567812345678",
            "owner": f"auth.user:{sam.pk}",
            "secret": "<11 bytes>",
            "tags": ["a", "b"],
            "nested": {"1": ["x", None]},
            "nul": "a\ufffdb",
            "role": "security",
        }
    )
    assert _stored_hash_is_valid(event)


def test_values_that_cannot_be_represented_are_refused():
    with pytest.raises(TypeError, match="object"):
        audit_record(actor=None, action="system.x", after={"thing": object()})
    with pytest.raises(ValueError, match="two keys"):
        audit_record(actor=None, action="system.x", after={1: "a", "1": "b"})  # type: ignore[dict-item]
    assert not AuditEvent.objects.exists()


_json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text()
    | st.decimals(allow_nan=False, places=3)
    | st.datetimes(timezones=st.just(dt.UTC))
)
_json_values = st.recursive(
    _json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(after=st.dictionaries(st.text(), _json_values, max_size=5), repr_=st.text(max_size=300))
def test_any_recorded_data_reads_back_exactly_as_hashed(after, repr_):
    event = audit_record(actor=None, action="fuzz.record", after=after, object_repr=repr_)
    assert _stored_hash_is_valid(event)
