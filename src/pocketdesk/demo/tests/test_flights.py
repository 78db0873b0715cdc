"""The demo's flight-delay story: 300 passengers on tomorrow's AC123, and the command that
announces the delay to each of them (by their channel, in their send window, with consent)."""

from datetime import UTC, datetime

from django.core.management import call_command
from django.test import Client

from pocketdesk.accounts.models import Role, User
from pocketdesk.core import clock
from pocketdesk.customers.models import Customer, TimelineEntry
from pocketdesk.demo.channels import seed_channels
from pocketdesk.demo.flights import seed_flight
from pocketdesk.demo.seed import DEMO_LOGINS, seed_customers, seed_logins_and_catalog
from pocketdesk.notifications.models import Event, Notification, Subscription

# 05:00 UTC: night in the Americas, early morning in Europe, so seeded send windows
# (opening at 07:00–09:00 local) hold some notifications back.
NIGHT = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def test_flight_delay_reaches_all_300_passengers(db, capsys):
    # given: the demo seed's customers, logins and channels
    with clock.frozen_at(NIGHT):
        seed_customers(count=305, seed=7, progress=lambda n: None)
        seed_logins_and_catalog()
        seed_channels()
        topic, passengers = seed_flight()
        assert (topic, passengers) == ("flight:AC123:2026-12-01", 300)
        assert seed_flight() == (topic, 300)  # a second `make demo` adds nobody

        # when
        call_command("demo_flight_delay", "--inline")

    # then: one notification per passenger, each status accounted for
    out = capsys.readouterr().out
    event = Event.objects.get(subject=topic)
    assert event.source_id in out
    assert event.public_id in out
    assert (event.state, event.recipients) == (Event.State.FANNED_OUT, 300)
    counts = {
        status: Notification.objects.filter(event=event, status=status).count()
        for status in Notification.Status.values
    }
    assert sum(counts.values()) == 300
    assert counts["skipped"] > 0  # no alerts consent
    assert counts["scheduled"] > 0  # outside their send window
    # handed to the outbox on the first channel of their ranking; those with another channel
    # wait 15 minutes for a receipt before the next one (the flight-disruption workflow)
    assert counts["waiting"] > 0
    assert counts["queued"] + counts["sent"] > 0
    waiting = Notification.objects.filter(event=event, status="scheduled")
    assert not waiting.filter(deliver_after__lte=NIGHT).exists()
    assert set(
        Notification.objects.filter(event=event, status="skipped").values_list(
            "skip_reason", flat=True
        )
    ) == {"no_alerts_consent"}
    # every notification handed on is a line on that passenger's timeline
    handed_on = counts["queued"] + counts["sent"] + counts["waiting"]
    lines = TimelineEntry.objects.filter(kind="notification.sent", data__event=event.public_id)
    assert lines.count() == handed_on
    assert set(lines.values_list("customer_id", flat=True)) == set(
        Notification.objects.filter(
            event=event, status__in=["queued", "sent", "waiting"]
        ).values_list("customer_id", flat=True)
    )

    # and the demo customer's bell shows it
    demo = Customer.objects.get(user__email=DEMO_LOGINS[Role.CUSTOMER])
    assert Subscription.objects.filter(customer=demo, topic=topic).exists()
    client = Client()
    client.force_login(User.objects.get(email=DEMO_LOGINS[Role.CUSTOMER]))
    with clock.frozen_at(NIGHT):
        html = client.get("/app/notifications/").content.decode()
    assert "Your flight AC123 is delayed to 18:40." in html
    assert "Sending by SMS" in html
