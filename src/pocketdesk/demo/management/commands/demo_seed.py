"""`pocketdesk demo-seed --customers N --seed S`: deterministic demo data with a progress bar."""

import time
from typing import Any

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pocketdesk.accounts.models import Role
from pocketdesk.customers.models import Customer
from pocketdesk.demo.channels import fake_providers_url, seed_channels, seed_conversations
from pocketdesk.demo.flights import seed_flight
from pocketdesk.demo.seed import (
    DEMO_LOGINS,
    DEMO_PASSWORD,
    seed_customers,
    seed_logins_and_catalog,
)


class Command(BaseCommand):
    help = "Seed deterministic demo data (customers, catalog, the four demo logins)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--customers", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when customers already exist"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console()
        if options["customers"] < 0:
            console.print("[red]--customers must be 0 or more[/red]")
            raise SystemExit(2)
        if options["if_empty"] and Customer.objects.exists():
            console.print("demo data already present: not seeding again")
        else:
            started = time.perf_counter()
            with Progress(
                TextColumn("[bold]seeding customers"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                bar = progress.add_task("customers", total=options["customers"])
                made = seed_customers(
                    count=options["customers"],
                    seed=options["seed"],
                    progress=lambda n: progress.advance(bar, n),
                )
            elapsed = time.perf_counter() - started
            console.print(f"seeded {made} customers in {elapsed:.1f} s")
        logins = seed_logins_and_catalog()
        channels = seed_channels()
        demo_customer = Customer.objects.get(user__email=DEMO_LOGINS[Role.CUSTOMER])
        threads = seed_conversations(channels, demo_customer)
        console.print(
            f"channels: {', '.join(sorted(channels))} (fake providers at {fake_providers_url()}); "
            f"{threads} demo conversations"
        )
        topic, passengers = seed_flight()
        console.print(
            f"flight {topic}: {passengers} subscribed passengers "
            "(`pocketdesk demo-flight-delay` announces its delay)"
        )
        table = Table(title="demo logins (password: " + DEMO_PASSWORD + ")")
        table.add_column("role")
        table.add_column("email")
        for role, email in logins.items():
            table.add_row(role, email)
        console.print(table)
