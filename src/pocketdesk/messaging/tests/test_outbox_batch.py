"""The batch outbox: many rows queued by one INSERT, sent by one task over one SMTP connection
(a refused message does not stop the others, a dropped connection is opened again), written
back in one transaction; rows a crash left sending are reconciled as a single send's are."""

from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pocketdesk.core import clock
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.messaging import handlers, services, tasks
from pocketdesk.messaging.adapters import email as email_adapter
from pocketdesk.messaging.adapters import twilio_sms
from pocketdesk.messaging.fake_providers import FakeProviders
from pocketdesk.messaging.models import Channel, Outbound
from pocketdesk.messaging.services import OutboundItem, outbound_queue_many

ADDRESS = "alerts@example.com"
SECRET = "inbound-secret-for-batch-tests"
BUSY, GONE, DROP = "busy@c.example", "gone@c.example", "drop@c.example"
SID = "AC" + "5" * 32
TOKEN = "twilio-token-batch-tests"
NUMBER = "+14155550177"


class Sink:
    """Keeps what it accepts, with the connection (client address) each message came on."""

    REFUSALS = {
        BUSY: "451 4.3.0 Mailbox busy, try again later",
        GONE: "550 5.1.1 No such user",
        DROP: "421 4.3.2 Closing the connection",
    }

    def __init__(self) -> None:
        self.received: list[tuple[tuple[str, int], str, bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.REFUSALS:
            return self.REFUSALS[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append((session.peer, envelope.rcpt_tos[0], envelope.content))
        return "250 2.0.0 Accepted"

    def connections(self) -> int:
        return len({peer for peer, _, _ in self.received})

    def message_ids(self) -> list[str]:
        ids = []
        for _, _, raw in self.received:
            for line in raw.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    ids.append(line.split(b":", 1)[1].strip().decode())
        return ids


@pytest.fixture(scope="module")
def smtp_server():
    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def sink(smtp_server) -> Sink:
    handler: Sink = smtp_server.handler
    handler.received.clear()
    return handler


@pytest.fixture
def channel(db, smtp_server) -> Channel:
    return services.channel_create(
        actor=None,
        kind="email",
        name="Alerts",
        address=ADDRESS,
        credentials={
            "inbound_secret": SECRET,
            "smtp_url": f"smtp://127.0.0.1:{smtp_server.port}",
        },
    )


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def _queue(channel: Channel, recipients: list[str]) -> list[Outbound]:
    return outbound_queue_many(
        [
            OutboundItem(
                channel=channel,
                recipient=recipient,
                text=f"Flight AC123 is delayed, {recipient}.",
                extra={"subject": "Flight delayed"},
            )
            for recipient in recipients
        ]
    )


def _statuses(rows: list[Outbound]) -> dict[str, str]:
    found = Outbound.objects.filter(pk__in=[row.pk for row in rows])
    return dict(found.values_list("recipient", "status"))


@pytest.mark.django_db
def test_many_rows_are_queued_by_one_insert_in_order(channel):
    recipients = [f"c{i}@c.example" for i in range(250)]
    with CaptureQueriesContext(connection) as queries:
        rows = _queue(channel, recipients)
    inserts = [
        q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")
    ]
    assert len(inserts) == 1
    assert [row.recipient for row in rows] == recipients
    assert all(row.pk for row in rows)
    stored = Outbound.objects.filter(pk__in=[row.pk for row in rows]).order_by("pk")
    assert list(stored.values_list("recipient", flat=True)) == recipients
    assert set(stored.values_list("status", flat=True)) == {Outbound.Status.QUEUED}
    assert stored[0].extra == {"subject": "Flight delayed"}
    assert outbound_queue_many([]) == []


@pytest.mark.django_db
def test_an_inactive_channel_queues_nothing(channel):
    Channel.objects.filter(pk=channel.pk).update(is_active=False)
    channel.refresh_from_db()
    with pytest.raises(ValidationFailed) as error:
        _queue(channel, ["a@c.example"])
    assert error.value.code == "channel_inactive"
    assert not Outbound.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_goes_out_over_one_smtp_connection(channel, sink):
    rows = _queue(channel, [f"c{i}@c.example" for i in range(40)])
    tasks.outbound_send_batch.enqueue([row.pk for row in rows])
    _work()

    assert len(sink.received) == 40
    assert sink.connections() == 1
    sent = Outbound.objects.filter(pk__in=[row.pk for row in rows])
    assert set(sent.values_list("status", flat=True)) == {Outbound.Status.SENT}
    assert sorted(sent.values_list("provider_id", flat=True)) == sorted(sink.message_ids())
    assert set(sent.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
def test_a_batch_costs_a_few_queries_per_group_written_back_not_per_row(channel, sink, monkeypatch):
    # Messaging's own queries: the apps' per-row status handlers are not counted.
    monkeypatch.setattr(handlers, "_status", {})
    monkeypatch.setattr(handlers, "_status_batch", {})
    group = services.WRITE_BACK_ROWS
    counts = []
    for groups in (1, 2, 4):
        rows = _queue(channel, [f"q{groups}.{i}@c.example" for i in range(groups * group)])
        with CaptureQueriesContext(connection) as queries:
            batch = services.outbound_attempt_many(outbound_ids=[row.pk for row in rows])
        assert len(batch.outbounds) == groups * group
        counts.append(len(queries))
    per_group = counts[1] - counts[0]
    assert counts[2] - counts[1] == 2 * per_group, counts
    # BEGIN, SELECT … FOR UPDATE, UPDATE, an EXISTS for early receipts, COMMIT, savepoints.
    assert per_group <= 10, counts


@pytest.mark.django_db(transaction=True)
def test_refusals_fail_or_back_off_one_message_and_the_others_still_go(channel, sink):
    recipients = ["a@c.example", BUSY, "b@c.example", GONE, "c@c.example", DROP, "d@c.example"]
    rows = _queue(channel, recipients)
    before = clock.now()
    tasks.outbound_send_batch.enqueue([row.pk for row in rows])
    _work()

    assert _statuses(rows) == {
        "a@c.example": "sent",
        BUSY: "queued",
        "b@c.example": "sent",
        GONE: "failed",
        "c@c.example": "sent",
        DROP: "queued",
        "d@c.example": "sent",
    }
    assert [rcpt for _, rcpt, _ in sink.received] == [
        "a@c.example",
        "b@c.example",
        "c@c.example",
        "d@c.example",
    ]
    # The 421 closed the connection: the message after it went on a new one.
    assert sink.connections() == 2
    busy = Outbound.objects.get(recipient=BUSY)
    assert (busy.error_code, busy.attempts) == ("smtp_451", 1)
    assert timedelta(seconds=20) < busy.next_attempt_at - before < timedelta(seconds=40)
    gone = Outbound.objects.get(recipient=GONE)
    assert gone.error_code == "smtp_550"
    assert Outbound.objects.get(recipient=DROP).error_code == "smtp_421"


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_server_backs_off_the_whole_batch(channel, sink):
    channel.credentials = {**channel.credentials, "smtp_url": f"smtp://127.0.0.1:{free_port()}"}
    channel.save()
    rows = _queue(channel, ["a@c.example", "b@c.example"])
    batch = services.outbound_attempt_many(outbound_ids=[row.pk for row in rows])

    assert {row.status for row in batch.outbounds} == {Outbound.Status.QUEUED}
    assert {row.error_code for row in batch.outbounds} == {"smtp_unreachable"}
    assert services.outbound_due() == []  # not before their backoff


@pytest.mark.django_db(transaction=True)
def test_rows_a_crash_left_sending_are_reconciled_and_fresh_ones_left_alone(channel, sink):
    stale, fresh, spent = _queue(channel, ["stale@c.example", "fresh@c.example", "spent@c.example"])
    now = clock.now()
    Outbound.objects.filter(pk=stale.pk).update(
        status="sending", attempts=1, attempt_started_at=now - timedelta(minutes=5)
    )
    Outbound.objects.filter(pk=fresh.pk).update(
        status="sending", attempts=1, attempt_started_at=now
    )
    Outbound.objects.filter(pk=spent.pk).update(
        status="sending",
        attempts=services.MAX_ATTEMPTS,
        attempt_started_at=now - timedelta(hours=1),
    )

    services.outbound_attempt_many(outbound_ids=[stale.pk, fresh.pk, spent.pk])

    stale.refresh_from_db()
    fresh.refresh_from_db()
    spent.refresh_from_db()
    # SMTP cannot be asked: the interrupted message goes again, with the same Message-ID.
    assert (stale.status, stale.attempts) == ("sent", 2)
    assert sink.message_ids() == [stale.provider_id]
    assert stale.provider_id == f"<{stale.public_id}@example.com>"
    assert (fresh.status, fresh.attempts) == ("sending", 1)
    assert (spent.status, spent.error_code) == ("failed", "attempts_exhausted")


@pytest.mark.django_db(transaction=True)
def test_rows_not_reached_before_the_deadline_are_put_back_untouched(channel, sink, settings):
    rows = _queue(channel, ["a@c.example", "b@c.example", "c@c.example"])
    settings.PD_SEND_TIMEOUT_SECONDS = 0.0  # the deadline has passed before the first send

    batch = services.outbound_attempt_many(outbound_ids=[row.pk for row in rows])

    # The first message goes all the same (every batch moves on); the others wait, as they were.
    assert [rcpt for _, rcpt, _ in sink.received] == ["a@c.example"]
    assert sorted(batch.untried) == sorted(row.pk for row in rows[1:])
    stored = Outbound.objects.filter(pk__in=batch.untried)
    assert set(stored.values_list("status", "attempts")) == {("queued", 0)}

    settings.PD_SEND_TIMEOUT_SECONDS = 60.0
    batch = services.outbound_attempt_many(outbound_ids=batch.untried)
    assert {row.status for row in batch.outbounds} == {"sent"}
    assert len(sink.received) == 3


@pytest.mark.django_db(transaction=True)
def test_batch_status_handlers_get_a_batch_in_one_call(channel, sink, monkeypatch):
    calls: list[list[handlers.OutboundStatusChange]] = []
    monkeypatch.setitem(handlers._status_batch, "test", lambda changes: calls.append(changes))
    rows = _queue(channel, ["a@c.example", GONE, "b@c.example"])

    services.outbound_attempt_many(outbound_ids=[row.pk for row in rows])

    assert len(calls) == 1
    assert sorted((c.outbound_id, c.status, c.previous) for c in calls[0]) == sorted(
        [
            (rows[0].pk, "sent", "sending"),
            (rows[1].pk, "failed", "sending"),
            (rows[2].pk, "sent", "sending"),
        ]
    )
    assert next(c for c in calls[0] if c.status == "failed").error_code == "smtp_550"


@pytest.mark.django_db(transaction=True)
def test_sms_go_in_one_batch_and_one_twilio_already_took_is_found_not_resent(db):
    with FakeProviders(twilio_accounts={SID: TOKEN}, retry_delays=()) as fake:
        sms = services.channel_create(
            actor=None,
            kind="twilio_sms",
            name="Alerts SMS",
            address=NUMBER,
            credentials={"account_sid": SID, "auth_token": TOKEN},
            api_base=fake.base_url,
        )
        taken, queued = outbound_queue_many(
            [
                OutboundItem(channel=sms, recipient="+447911120001", text="Gate change: B12"),
                OutboundItem(channel=sms, recipient="+447911120002", text="Gate change: B12"),
            ]
        )
        # Twilio took the first message, and the worker died before recording its sid.
        sid = twilio_sms.ADAPTER.send(sms, taken)
        Outbound.objects.filter(pk=taken.pk).update(
            status="sending", attempts=1, attempt_started_at=clock.now() - timedelta(minutes=5)
        )

        tasks.outbound_send_batch.enqueue([taken.pk, queued.pk])
        _work()

        posts = [
            r["params"]["To"][0]
            for r in fake.received
            if r["method"] == "POST" and r["path"].endswith("Messages.json")
        ]
    assert sorted(posts) == ["+447911120001", "+447911120002"]
    taken.refresh_from_db()
    queued.refresh_from_db()
    assert (taken.status, taken.provider_id, taken.attempts) == ("sent", sid, 2)
    assert queued.status == "sent"
    assert queued.provider_id.startswith("SM")


@pytest.mark.django_db(transaction=True)
def test_results_are_written_back_in_groups_while_the_batch_is_sent(channel, sink, monkeypatch):
    # A crash mid-batch re-sends at most the group in flight: earlier groups are committed.
    seen: list[tuple[int, int]] = []

    def record(changes):
        seen.append((len(changes), len(sink.received)))

    monkeypatch.setitem(handlers._status_batch, "test", record)
    group = services.WRITE_BACK_ROWS
    rows = _queue(channel, [f"g{i}@c.example" for i in range(2 * group + 5)])

    services.outbound_attempt_many(outbound_ids=[row.pk for row in rows])

    assert [size for size, _ in seen] == [group, group, 5]
    # Each group was written back before the next one went out, on the same connection.
    assert [at_sink for _, at_sink in seen] == [group, 2 * group, 2 * group + 5]
    assert sink.connections() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_status_handler_does_not_undo_what_was_sent(channel, sink, monkeypatch):
    def broken(changes):
        if any(change.outbound_id == rows[1].pk for change in changes):
            raise RuntimeError("a bug in an app's handler")

    told: list[int] = []
    monkeypatch.setitem(handlers._status_batch, "broken", broken)
    monkeypatch.setitem(
        handlers._status_batch, "told", lambda cs: told.extend(c.outbound_id for c in cs)
    )
    rows = _queue(channel, ["a@c.example", "b@c.example", "c@c.example"])

    services.outbound_attempt_many(outbound_ids=[row.pk for row in rows])

    # Sent is recorded for all three (a rollback would mail them again); the handlers' work
    # stands for the changes they could take.
    assert set(_statuses(rows).values()) == {"sent"}
    assert len(sink.received) == 3
    assert sorted(told) == sorted([rows[0].pk, rows[2].pk])


@pytest.mark.django_db(transaction=True)
def test_an_adapter_without_send_many_sends_each_row(db):
    # Web chat has no batch send: `send` for each row, `find_sent` for an interrupted one.
    webchat = services.channel_create(
        actor=None, kind="webchat", name="App", address="", credentials={}
    )
    rows = outbound_queue_many(
        [OutboundItem(channel=webchat, recipient=f"cus_{i}", text="Hi") for i in range(3)]
    )
    Outbound.objects.filter(pk=rows[0].pk).update(
        status="sending", attempts=1, attempt_started_at=clock.now() - timedelta(minutes=5)
    )

    batch = services.outbound_attempt_many(outbound_ids=[row.pk for row in rows])

    assert {(row.public_id, row.status) for row in batch.outbounds} == {
        (row.public_id, "sent") for row in rows
    }
    stored = Outbound.objects.filter(pk__in=[row.pk for row in rows])
    assert all(row.provider_id == row.public_id for row in stored)
    assert sorted(stored.values_list("attempts", flat=True)) == [1, 1, 2]


def _parts(raw: bytes) -> tuple[dict[str, str], list[tuple[str, str]]]:
    message = message_from_bytes(raw, policy=default_policy)
    headers = {name: str(value) for name, value in message.items() if name != "Date"}
    headers["Content-Type"] = message.get_content_type()
    bodies = [(part.get_content_type(), part.get_content()) for part in message.iter_parts()]
    return headers, bodies


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("recipient", "text", "from_template"),
    [
        ("ada@c.example", "Your flight AC123 is delayed to 14:35.", True),
        ("o'brien+alerts@mail.c.example", "Gate B12 — boarding at 14:05 ☕", True),
        ("ada@c.example", "Long text " * 40 + "\nwith <html> & a second line", True),
        ("a..b@c.example", "A local part that needs quoting", False),
        ("ada@c.example", f"Mentions {email_adapter._TEMPLATE_TO} itself", False),
    ],
)
def test_a_message_copied_from_a_batch_template_is_the_message_built_for_it(
    channel, recipient, text, from_template
):
    # Sending a fan-out's messages from one template per text must not change what is sent.
    outbound = _queue(channel, [recipient])[0]
    Outbound.objects.filter(pk=outbound.pk).update(text=text)
    outbound.refresh_from_db()
    templates = email_adapter._Templates(channel)
    templates.render(_queue(channel, ["first@c.example"])[0])  # the template exists already

    rendered = templates.render(outbound) if from_template else None
    built = email_adapter.mime_build(channel, outbound)

    assert (rendered is not None) == from_template
    if rendered is not None:
        raw, message_id = rendered
        assert message_id == built["Message-ID"] == f"<{outbound.public_id}@example.com>"
        assert _parts(raw) == _parts(built.as_bytes())
    else:
        assert templates.render(outbound) is None
