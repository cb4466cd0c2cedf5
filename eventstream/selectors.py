"""What the event stream's pages show: each endpoint's health and its dead letters."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from audit.models import AuditChainHead
from eventstream.models import EventDelivery, EventEndpoint


@dataclass(frozen=True)
class EndpointHealth:
    """One endpoint as its list shows it: how far behind the log it is, and why."""

    endpoint: EventEndpoint
    latest_sequence: int
    dead_letters: int

    @property
    def behind(self) -> int:
        return max(0, self.latest_sequence - self.endpoint.delivered_through)

    @property
    def healthy(self) -> bool:
        return self.endpoint.active and not self.endpoint.failures and not self.dead_letters


def latest_sequence() -> int:
    """The last audit sequence written (the chain head holds it: one row, no scan)."""
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
    return head.sequence if head else 0


def endpoints_health() -> list[EndpointHealth]:
    latest = latest_sequence()
    endpoints = EventEndpoint.objects.annotate(
        dead=Count("deliveries", filter=Q(deliveries__status=EventDelivery.Status.DEAD))
    )
    return [EndpointHealth(e, latest, e.dead) for e in endpoints]  # type: ignore[attr-defined]


def endpoint_health(endpoint_id: int) -> EndpointHealth:
    endpoint = EventEndpoint.objects.get(pk=endpoint_id)
    dead = endpoint.deliveries.filter(status=EventDelivery.Status.DEAD).count()
    return EndpointHealth(endpoint, latest_sequence(), dead)


def dead_letters(endpoint_id: int | None = None) -> list[EventDelivery]:
    """Dead letters and those queued to be sent again, oldest event first."""
    rows = EventDelivery.objects.select_related("endpoint").filter(
        status__in=[EventDelivery.Status.DEAD, EventDelivery.Status.REDELIVER]
    )
    if endpoint_id is not None:
        rows = rows.filter(endpoint_id=endpoint_id)
    return list(rows.order_by("endpoint__name", "sequence")[:200])
