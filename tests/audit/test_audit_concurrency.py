"""Concurrent writers, each on its own database connection, never fork the chain."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from audit.services import audit_record, audit_verify

WRITERS = 4
EVENTS_PER_WRITER = 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_append_one_gapless_unforked_chain():
    start = threading.Barrier(WRITERS)

    def write(writer: int) -> list[int]:
        try:
            start.wait(timeout=30)
            sequences = []
            for n in range(EVENTS_PER_WRITER):
                with transaction.atomic():
                    event = audit_record(
                        actor=None,
                        action="access_request.approve",
                        object_repr=f"writer {writer} event {n}",
                        after={"writer": writer, "n": n},
                    )
                    # Hold the transaction open a little, as a real service would while it
                    # finishes its own writes: other writers must queue behind the head lock.
                    time.sleep(0.002)
                sequences.append(event.sequence)
            return sequences
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        results = list(pool.map(write, range(WRITERS)))

    total = WRITERS * EVENTS_PER_WRITER
    assert sorted(seq for seqs in results for seq in seqs) == list(range(1, total + 1))
    for seqs in results:
        assert seqs == sorted(seqs)  # each writer sees its own events in order
    rows = list(
        AuditEvent.objects.order_by("sequence").values_list("sequence", "prev_hash", "hash")
    )
    assert [seq for seq, _, _ in rows] == list(range(1, total + 1))
    previous = GENESIS_HASH
    for _, prev_hash, hash_ in rows:
        assert prev_hash == previous
        previous = hash_
    assert len({hash_ for _, _, hash_ in rows}) == total
    times = list(AuditEvent.objects.order_by("sequence").values_list("created_at", flat=True))
    assert times == sorted(times)
    head = AuditChainHead.objects.get()
    assert (head.sequence, head.hash) == (total, previous)
    result = audit_verify()
    assert result.ok, result.reason
    assert result.checked == total


@pytest.mark.django_db(transaction=True)
def test_a_writer_waits_for_the_open_transaction_holding_the_head():
    # Committed first, so that the chain head row exists and only its lock orders the writers.
    audit_record(actor=None, action="vendor.first")
    first_recorded = threading.Event()
    release_first = threading.Event()

    def slow_writer() -> int:
        try:
            with transaction.atomic():
                event = audit_record(actor=None, action="vendor.slow")
                first_recorded.set()
                release_first.wait(timeout=30)
            return event.sequence
        finally:
            connection.close()

    def second_writer() -> tuple[int, float]:
        try:
            began = time.monotonic()
            event = audit_record(actor=None, action="vendor.fast")
            return event.sequence, time.monotonic() - began
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(slow_writer)
        assert first_recorded.wait(timeout=30)
        fast = pool.submit(second_writer)
        time.sleep(0.5)
        assert not fast.done()  # blocked on the chain head lock
        release_first.set()
        fast_sequence, waited = fast.result(timeout=30)
    assert slow.result() == 2
    assert fast_sequence == 3
    assert waited >= 0.4
    assert audit_verify().ok
