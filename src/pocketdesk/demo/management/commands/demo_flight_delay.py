"""`pocketdesk demo-flight-delay`: post `flight.delayed` for tomorrow's AC123 (300 passengers)
and show what became of each notification."""

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table

from pocketdesk.accounts.models import Role
from pocketdesk.customers.models import Customer
from pocketdesk.demo.flights import flight_delay_post
from pocketdesk.demo.seed import DEMO_LOGINS
from pocketdesk.notifications.models import Event
from pocketdesk.notifications.selectors import event_status_counts
from pocketdesk.notifications.services.engine import notifications_due_send
from pocketdesk.notifications.services.fanout import event_fan_out


class Command(BaseCommand):
    help = "Post the demo's flight.delayed event for tomorrow's AC123 and its 300 passengers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--inline",
            action="store_true",
            help="fan out and hand due notifications on in this process (no worker running)",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=30.0,
            help="seconds to wait for the worker to fan the event out (default 30)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console()
        event, topic = flight_delay_post()
        console.print(
            f"posted flight.delayed for [bold]{topic}[/bold]: event {event.public_id}, "
            f"source id [bold]{event.source_id}[/bold]"
        )
        if options["inline"]:
            # The same services the worker's tasks run; both are idempotent, so a worker that
            # picks the queued task up as well adds nothing.
            event_fan_out(event_id=event.pk)
            while notifications_due_send():
                pass
        else:
            deadline = time.monotonic() + max(0.0, options["wait"])
            while not Event.objects.filter(pk=event.pk, state=Event.State.FANNED_OUT).exists():
                if time.monotonic() >= deadline:
                    console.print(
                        "[yellow]the worker has not fanned the event out yet: is "
                        "`pocketdesk serve` running? (or run this with --inline)[/yellow]"
                    )
                    return
                time.sleep(0.5)
            time.sleep(1.0)  # the worker's due sweep follows the fan-out
        event.refresh_from_db()
        counts = event_status_counts(event=event)
        table = Table(title=f"{event.recipients} notifications by status")
        table.add_column("status")
        table.add_column("count", justify="right")
        for status, count in counts.items():
            table.add_row(status, str(count))
        console.print(table)
        demo_customer = Customer.objects.get(user__email__iexact=DEMO_LOGINS[Role.CUSTOMER])
        base = settings.PD_PUBLIC_URL.rstrip("/")
        console.print(
            f"the demo customer's bell: {base}/app/notifications/ "
            f"(sign in as {DEMO_LOGINS[Role.CUSTOMER]}); each passenger's timeline on their "
            f"page in the console (as {DEMO_LOGINS[Role.AGENT]}), e.g. "
            f"{base}/console/customers/{demo_customer.public_id}/"
        )
