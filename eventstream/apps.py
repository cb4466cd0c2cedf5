from django.apps import AppConfig


class EventStreamConfig(AppConfig):
    """The audit log streamed out, signed, to the endpoints security configures (a SIEM)."""

    name = "eventstream"
    verbose_name = "Audit event stream"

    def ready(self) -> None:
        # Here, not at the top: the models cannot be imported before the registry is ready.
        from django.db.models.signals import post_save

        from audit.models import AuditEvent
        from eventstream import signals

        # A new audit row schedules a delivery pass after its commit; the beat's pass every
        # minute is the safety net for a lost message.
        post_save.connect(
            signals.audit_event_saved, sender=AuditEvent, dispatch_uid="eventstream.audit_event"
        )
