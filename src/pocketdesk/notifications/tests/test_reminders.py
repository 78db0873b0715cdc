"""Reminders: RRULE next runs on the customer's wall clock (DST included), meter readings, and a
sweep that fires each occurrence once however often, or however concurrently, it runs."""

import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from django.db import connection
from django_tasks_db.models import DBTaskResult

from pocketdesk.core import clock
from pocketdesk.core.errors import PermissionDenied, ValidationFailed
from pocketdesk.core.schedule import periodic_tasks
from pocketdesk.notifications import tasks
from pocketdesk.notifications.event_types import event_text
from pocketdesk.notifications.models import Event, Notification, Reminder
from pocketdesk.notifications.services.events import event_system_accept
from pocketdesk.notifications.services.reminders import (
    meter_reading_report,
    reminder_create,
    reminder_delete,
    reminder_next_run,
    reminder_update,
    reminders_fire_due,
)

LONDON = ZoneInfo("Europe/London")
JAN_5 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Around London's clock changes in 2026, and an ordinary day.
DST_EDGES = [
    utc(2026, 3, 28, 23, 59),
    utc(2026, 3, 29, 0, 15),
    utc(2026, 3, 29, 1, 0),
    utc(2026, 10, 24, 23, 30),
    utc(2026, 10, 25, 0, 15),
    utc(2026, 10, 25, 1, 15),
    utc(2026, 10, 25, 1, 45),
    utc(2026, 6, 2, 12, 0),
]


@pytest.fixture
def ada(make_customer):
    return make_customer(name="Ada", time_zone="Europe/London")


def _actor(customer):
    return customer.user


def _oil(customer, **kwargs):
    kwargs.setdefault("title", "Oil change")
    return reminder_create(actor=_actor(customer), customer=customer, **kwargs)


def _runs(reminder, after: datetime, n: int) -> list[datetime]:
    runs = []
    for _ in range(n):
        after = reminder_next_run(reminder, after=after)
        runs.append(after)
    return runs


# --- RRULE next runs -------------------------------------------------------------------------


def test_every_six_months_stays_at_nine_on_the_customers_wall_clock(ada):
    # given: a naive start is the customer's wall clock (London: GMT in winter, BST in summer)
    with clock.frozen_at(JAN_5):
        reminder = _oil(ada, rrule="FREQ=MONTHLY;INTERVAL=6", starts_at=datetime(2026, 1, 10, 9))

    # then: DTSTART is the first run; July's 09:00 is 08:00 UTC
    assert reminder.starts_at == utc(2026, 1, 10, 9)
    assert reminder.next_run_at == utc(2026, 1, 10, 9)
    assert _runs(reminder, reminder.next_run_at, 3) == [
        utc(2026, 7, 10, 8),
        utc(2027, 1, 10, 9),
        utc(2027, 7, 10, 8),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "RRULE:FREQ=MONTHLY;INTERVAL=6",
        "  rrule:freq=monthly;interval=6 ",
        "FREQ=MONTHLY;INTERVAL=6",
    ],
)
def test_both_rrule_forms_are_accepted_and_stored_plainly(ada, text):
    with clock.frozen_at(JAN_5):
        reminder = _oil(ada, rrule=text, starts_at=datetime(2025, 12, 1, 9))
    assert reminder.rrule == "FREQ=MONTHLY;INTERVAL=6"
    assert reminder.next_run_at == utc(2026, 6, 1, 8)


def test_the_start_is_read_in_the_customers_zone(make_customer):
    tokyo = make_customer(time_zone="Asia/Tokyo")
    new_york = make_customer(time_zone="America/New_York")
    with clock.frozen_at(JAN_5):
        naive = _oil(tokyo, rrule="FREQ=YEARLY", starts_at=datetime(2026, 3, 1, 9))
        # an aware start is an instant: 09:00 in London is 18:00 in Tokyo
        aware = _oil(tokyo, rrule="FREQ=YEARLY", starts_at=datetime(2026, 3, 1, 9, tzinfo=LONDON))
        daily = _oil(new_york, rrule="FREQ=DAILY", starts_at=datetime(2026, 3, 6, 9))
    assert naive.next_run_at == utc(2026, 3, 1, 0)
    assert aware.next_run_at == utc(2026, 3, 1, 9)
    # New York springs forward on 8 March 2026: 09:00 EST is 14:00 UTC, 09:00 EDT 13:00 UTC
    assert _runs(daily, utc(2026, 3, 6, 12), 4) == [
        utc(2026, 3, 6, 14),
        utc(2026, 3, 7, 14),
        utc(2026, 3, 8, 13),
        utc(2026, 3, 9, 13),
    ]


def test_a_wall_time_skipped_or_repeated_by_dst_fires_once(ada):
    with clock.frozen_at(JAN_5):
        night = _oil(ada, rrule="FREQ=DAILY", starts_at=datetime(2026, 3, 1, 1, 30))
        hourly = _oil(ada, rrule="FREQ=HOURLY", starts_at=datetime(2026, 3, 1, 0, 0))
    # 29 March: 01:30 does not exist in London; it fires at 02:30 BST (01:30 UTC)
    assert _runs(night, utc(2026, 3, 28, 12), 3) == [
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]
    # 25 October: 01:30 happens twice; the first (BST, 00:30 UTC) fires, the repeat does not
    assert _runs(night, utc(2026, 10, 24, 12), 2) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]
    # asked during the repeated hour (01:00 GMT, after 01:30 BST has fired), the wall clock says
    # 01:30 is still ahead; it is not: the next run is the next day
    assert reminder_next_run(night, after=utc(2026, 10, 25, 1, 0)) == utc(2026, 10, 26, 1, 30)
    # hourly, wall clock: the hour that does not exist is not fired twice (01:00 "GMT" and
    # 02:00 BST are one instant); the hour that happens twice fires once
    assert _runs(hourly, utc(2026, 3, 28, 23), 4) == [
        utc(2026, 3, 29, 0),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
        utc(2026, 3, 29, 3),
    ]
    assert _runs(hourly, utc(2026, 10, 24, 22), 4) == [
        utc(2026, 10, 24, 23),
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 2),
        utc(2026, 10, 25, 3),
    ]


@pytest.mark.parametrize(
    "text",
    ["FREQ=HOURLY", "FREQ=HOURLY;INTERVAL=8;BYDAY=MO,TH", "FREQ=HOURLY;INTERVAL=3;BYMONTH=3,10"],
)
def test_an_old_hourly_rule_gives_the_same_runs_quickly(ada, text):
    # given: an hourly rule started nine years ago, through several DST changes
    with clock.frozen_at(JAN_5):
        reminder = _oil(ada, rrule=text, starts_at=datetime(2017, 3, 1, 5, 15))
    full = rrulestr(text, dtstart=datetime(2017, 3, 1, 5, 15, tzinfo=LONDON))

    # when
    started = time.monotonic()
    runs = {after: reminder_next_run(reminder, after=after) for after in DST_EDGES}
    elapsed = time.monotonic() - started

    # then: what dateutil gives walking every hour from 2017 (wall clock, first of a repeat)
    for after, run in runs.items():
        expected = next(
            o.astimezone(UTC)
            for o in full.xafter(after.astimezone(LONDON), count=4)
            if o.astimezone(UTC) > after
        )
        assert run == expected, after
    assert elapsed < 0.5


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("garbage", "not enough values to unpack"),
        ("FREQ=FOO", "invalid 'FREQ': FOO"),
        ("FREQ=DAILY;BYDAY=XX", "invalid 'BYDAY': XX"),
        ("FREQ=DAILY;X-FOO=1", "unknown parameter 'X-FOO'"),
        ("FREQ=DAILY;BYHOUR=25", "hour must be in 0..23"),
        ("FREQ=DAILY;UNTIL=20300101", "must be specified in UTC"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
        ("DTSTART:20260101T090000\nRRULE:FREQ=DAILY", "give one RRULE only"),
        ("FREQ=MINUTELY", "at most once an hour"),
        ("FREQ=SECONDLY", "at most once an hour"),
        ("FREQ=DAILY;BYMINUTE=0,30", "at most once an hour"),
        ("FREQ=HOURLY;BYSECOND=0,30", "at most once an hour"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL is 1 to"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL is 1 to"),
        ("FREQ=HOURLY;BYSETPOS=2", "BYSETPOS is not supported"),
        ("FREQ=HOURLY;INTERVAL=7;BYHOUR=9;BYDAY=TU", "INTERVAL divides 24"),
        ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", "use FREQ=WEEKLY"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "BYMONTHDAY is not supported"),
        ("FREQ=DAILY;UNTIL=20200101T000000Z", "no occurrence after now"),
        ("FREQ=DAILY;COUNT=2", "no occurrence after now"),
        ("FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4", "no occurrence after now"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "no occurrence after now"),
        ("RRULE:", "empty string"),
    ],
)
def test_a_bad_rrule_is_a_422_with_the_reason(ada, text, reason):
    started = time.monotonic()
    with clock.frozen_at(JAN_5), pytest.raises(ValidationFailed) as failure:
        _oil(ada, rrule=text, starts_at=datetime(2025, 12, 1, 9))
    assert failure.value.code == "invalid_rrule"
    assert failure.value.status == 422
    assert reason in failure.value.detail
    # impossible rules are found without walking every day to the year 9999
    assert time.monotonic() - started < 2
    assert not Reminder.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, "schedule_required"),
        ({"title": "  "}, "invalid_title"),
        ({"title": "x" * 201, "rrule": "FREQ=YEARLY"}, "invalid_title"),
        ({"meter_every": -5, "meter_unit": "km"}, "invalid_meter_value"),
        ({"meter_every": 0, "meter_unit": "km"}, "invalid_meter_value"),
        ({"meter_every": True, "meter_unit": "km"}, "invalid_meter_value"),
        ({"meter_every": 3_000_000_000, "meter_unit": "km"}, "invalid_meter_value"),
        ({"meter_every": 8000, "meter_unit": "km", "meter_reading": -1}, "invalid_meter_value"),
        ({"meter_every": 8000}, "invalid_meter_unit"),
        ({"rrule": "FREQ=YEARLY", "meter_reading": 10}, "meter_every_required"),
        ({"rrule": "FREQ=YEARLY", "event_type": "oil.changed"}, "unknown_event_type"),
        ({"rrule": "FREQ=YEARLY", "payload": ["x"]}, "invalid_payload"),
        ({"rrule": "FREQ=YEARLY", "payload": {"x": "y" * 5000}}, "payload_too_large"),
        ({"rrule": "FREQ=YEARLY", "starts_at": datetime(1990, 1, 1)}, "invalid_starts_at"),
    ],
)
def test_bad_reminders_are_refused_with_a_code(ada, kwargs, code):
    with clock.frozen_at(JAN_5), pytest.raises(ValidationFailed) as failure:
        _oil(ada, **kwargs)
    assert failure.value.code == code
    assert not Reminder.objects.exists()


def test_a_customer_manages_only_their_own_reminders_and_staff_any(make_customer, agent):
    ada, bob = make_customer(), make_customer()
    with clock.frozen_at(JAN_5):
        with pytest.raises(PermissionDenied):
            reminder_create(actor=bob.user, customer=ada, title="Oil", rrule="FREQ=YEARLY")
        made = reminder_create(actor=agent, customer=ada, title="Service", rrule="FREQ=YEARLY")
        assert made.customer == ada
        mine = _oil(ada, meter_every=100, meter_unit="km")
        with pytest.raises(PermissionDenied):
            meter_reading_report(actor=bob.user, reminder=mine, value=50)
        with pytest.raises(PermissionDenied):
            reminder_update(actor=bob.user, reminder=mine, title="Mine now")
        with pytest.raises(PermissionDenied):
            reminder_delete(actor=bob.user, reminder=mine)
    assert Reminder.objects.filter(customer=ada).count() == 2


# --- meters ----------------------------------------------------------------------------------


def test_a_meter_reminder_is_due_once_the_meter_has_gone_far_enough(ada):
    with clock.frozen_at(JAN_5):
        reminder = _oil(ada, meter_every=8000, meter_unit="km", meter_reading=10_000)
    assert (reminder.meter_base, reminder.next_run_at) == (10_000, None)

    with clock.frozen_at(JAN_5 + timedelta(days=30)):
        reminder = meter_reading_report(actor=ada.user, reminder=reminder, value=15_000)
        assert reminder.next_run_at is None
        with pytest.raises(ValidationFailed) as failure:
            meter_reading_report(actor=ada.user, reminder=reminder, value=14_999)
        assert failure.value.code == "reading_decreased"
        assert "15,000 km" in failure.value.detail
        assert reminders_fire_due() == 0

    due_at = JAN_5 + timedelta(days=60)
    with clock.frozen_at(due_at):
        reminder = meter_reading_report(actor=ada.user, reminder=reminder, value=18_200)
        assert reminder.next_run_at == due_at
        assert reminders_fire_due() == 1

    event = Event.objects.get()
    assert event.payload["meter"] == "18,200 km"
    assert event_text(event.type, event.payload) == "Maintenance is due for Oil change."
    reminder.refresh_from_db()
    assert (reminder.meter_base, reminder.next_run_at, reminder.fired_count) == (18_200, None, 1)


def test_the_first_reading_sets_the_base_when_none_was_given(ada):
    with clock.frozen_at(JAN_5):
        reminder = _oil(ada, meter_every=500, meter_unit="h")
        reminder = meter_reading_report(actor=ada.user, reminder=reminder, value=1200)
        assert (reminder.meter_base, reminder.next_run_at) == (1200, None)
        reminder = meter_reading_report(actor=ada.user, reminder=reminder, value=1700)
        assert reminder.next_run_at == JAN_5
        with pytest.raises(ValidationFailed) as failure:
            meter_reading_report(
                actor=ada.user, reminder=reminder, value=1800, at=JAN_5 + timedelta(hours=1)
            )
        assert failure.value.code == "invalid_reading_time"
        only_time = _oil(ada, rrule="FREQ=YEARLY")
        with pytest.raises(ValidationFailed) as failure:
            meter_reading_report(actor=ada.user, reminder=only_time, value=1)
        assert failure.value.code == "no_meter"


def test_six_months_or_8000_km_whichever_comes_first(ada):
    with clock.frozen_at(JAN_5):
        reminder = _oil(
            ada,
            rrule="FREQ=MONTHLY;INTERVAL=6",
            starts_at=datetime(2026, 1, 1, 9),
            meter_every=8000,
            meter_unit="km",
            meter_reading=20_000,
        )
    assert reminder.next_run_at == utc(2026, 7, 1, 8)
    march = utc(2026, 3, 1, 10)
    with clock.frozen_at(march):
        meter_reading_report(actor=ada.user, reminder=reminder, value=28_000)
        assert reminders_fire_due() == 1
    reminder.refresh_from_db()
    # the meter counts again from 28,000; the calendar keeps its next date
    assert (reminder.meter_base, reminder.next_run_at) == (28_000, utc(2026, 7, 1, 8))
    with clock.frozen_at(utc(2026, 7, 1, 8)):
        assert reminders_fire_due() == 1
    reminder.refresh_from_db()
    assert reminder.next_run_at == utc(2027, 1, 1, 9)
    assert reminder.fired_count == 2


# --- firing ----------------------------------------------------------------------------------


def test_the_sweep_fires_an_occurrence_once_however_often_it_runs(
    ada, django_capture_on_commit_callbacks
):
    with clock.frozen_at(JAN_5):
        reminder = _oil(
            ada,
            rrule="FREQ=MONTHLY;INTERVAL=6",
            starts_at=datetime(2026, 1, 10, 9),
            payload={"product": "the Volvo"},
        )
    with clock.frozen_at(utc(2026, 1, 10, 8, 59)):
        assert reminders_fire_due() == 0

    # when
    with (
        clock.frozen_at(utc(2026, 1, 10, 9, 0, 30)),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        assert reminders_fire_due() == 1
        assert reminders_fire_due() == 0
        assert tasks.reminders_due.call() == 0

    # then: one event for the customer, fanned out after commit
    event = Event.objects.get()
    assert (event.created_by, event.subject_kind, event.subject) == (
        None,
        "customer",
        ada.public_id,
    )
    assert event.source_id == f"reminder:{reminder.public_id}:1"
    assert event.payload["title"] == "Oil change"
    assert event_text(event.type, event.payload) == (
        "Maintenance is due for the Volvo on January 10, 2026."
    )
    assert len(callbacks) == 1
    queued = DBTaskResult.objects.filter(task_path__endswith="tasks.event_fan_out")
    assert [row.args_kwargs["args"] for row in queued] == [[event.pk]]
    reminder.refresh_from_db()
    assert reminder.fired_count == 1
    assert reminder.last_fired_at == utc(2026, 1, 10, 9, 0, 30)
    assert reminder.next_run_at == utc(2026, 7, 10, 8)


def test_a_fired_reminder_reaches_the_customer_through_the_fan_out(ada):
    with clock.frozen_at(JAN_5):
        _oil(ada, rrule="FREQ=YEARLY", starts_at=datetime(2026, 2, 1, 9))
    with clock.frozen_at(utc(2026, 2, 1, 9)):
        reminders_fire_due()
        event = Event.objects.get()
        assert tasks.event_fan_out.call(event.pk) == 1
    notification = Notification.objects.get()
    assert (notification.customer, notification.event) == (ada, event)


def test_the_due_date_is_written_in_the_customers_language(make_customer):
    marie = make_customer(language="fr", time_zone="Europe/Paris")
    with clock.frozen_at(JAN_5):
        _oil(marie, rrule="FREQ=YEARLY", starts_at=datetime(2026, 7, 10, 9))
    with clock.frozen_at(utc(2026, 7, 10, 7, 1)):
        assert reminders_fire_due() == 1
    event = Event.objects.get()
    assert event.payload["due"] == "10 juillet 2026"


def test_an_occurrence_already_made_is_not_made_again(ada):
    # given: a sweep that made the event for occurrence 1 (the source id is the guard)
    with clock.frozen_at(JAN_5):
        reminder = _oil(ada, rrule="FREQ=YEARLY", starts_at=datetime(2026, 2, 1, 9))
        first, created = event_system_accept(
            type="maintenance.due",
            source_id=f"reminder:{reminder.public_id}:1",
            customer=ada,
            payload={"product": "x"},
        )
    assert created

    # when
    with clock.frozen_at(utc(2026, 2, 1, 9)):
        assert reminders_fire_due() == 0

    # then
    assert list(Event.objects.all()) == [first]
    reminder.refresh_from_db()
    assert (reminder.fired_count, reminder.next_run_at) == (1, utc(2027, 2, 1, 9))


def test_inactive_reminders_do_not_fire_and_changes_recompute_the_next_run(ada):
    with clock.frozen_at(JAN_5):
        reminder = _oil(ada, rrule="FREQ=YEARLY", starts_at=datetime(2026, 2, 1, 9))
        reminder = reminder_update(actor=ada.user, reminder=reminder, is_active=False)
        with pytest.raises(ValidationFailed) as failure:
            reminder_update(actor=ada.user, reminder=reminder, rrule="")
        assert failure.value.code == "schedule_required"
        reminder = reminder_update(
            actor=ada.user,
            reminder=reminder,
            rrule="FREQ=MONTHLY",
            meter_every=100,
            meter_unit="mi",
        )
    assert reminder.next_run_at == utc(2026, 2, 1, 9)
    assert reminder.meter_unit == "mi"
    with clock.frozen_at(utc(2026, 2, 1, 9)):
        assert reminders_fire_due() == 0
    with clock.frozen_at(utc(2026, 2, 1, 10)):
        # due since 09:00 while inactive: switched on again, it waits for the next occurrence
        reminder = reminder_update(actor=ada.user, reminder=reminder, is_active=True)
        assert reminder.next_run_at == utc(2026, 3, 1, 9)
    with clock.frozen_at(utc(2026, 3, 1, 9)):
        # due, not yet fired: a new title keeps the run
        reminder = reminder_update(actor=ada.user, reminder=reminder, title="Oil and filter")
        assert reminders_fire_due() == 1
        reminder_delete(actor=ada.user, reminder=reminder)
    assert not Reminder.objects.exists()
    assert Event.objects.count() == 1


def test_the_sweep_is_registered_every_minute():
    (sweep,) = [p for p in periodic_tasks() if p.name == "notifications.reminders"]
    assert sweep.task is tasks.reminders_due
    assert sweep.every_seconds == 60


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_fire_each_occurrence_once(make_customer):
    # given: 30 reminders due at once
    customers = [make_customer(name=f"C{n}") for n in range(3)]
    with clock.frozen_at(JAN_5):
        for n in range(30):
            _oil(customers[n % 3], rrule="FREQ=YEARLY", starts_at=datetime(2026, 2, 1, 9))
    barrier = threading.Barrier(3)
    results: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(reminders_fire_due(limit=20))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    # when: three sweeps start together (the clock is shared by the threads)
    with clock.frozen_at(utc(2026, 2, 1, 9, 0, 5)):
        threads = [threading.Thread(target=sweep) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    # then
    assert errors == []
    assert sum(results) == 30
    assert Event.objects.count() == 30
    assert set(Reminder.objects.values_list("fired_count", flat=True)) == {1}
