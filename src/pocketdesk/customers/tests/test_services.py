"""Customer services: contact points, preferences, consent, verification, timeline, merge."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest

from pocketdesk.catalog.models import UnitRegistration
from pocketdesk.catalog.services import product_create, unit_create, unit_register
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, NotFound, RateLimited, ValidationFailed
from pocketdesk.core.models import AuditEvent
from pocketdesk.customers.models import (
    Consent,
    ContactPoint,
    Customer,
    SendWindow,
    TimelineEntry,
    VerificationCode,
)
from pocketdesk.customers.services import (
    CODE_MAX_ATTEMPTS,
    CODE_RESEND_AFTER,
    CODE_TTL,
    Window,
    consent_set,
    contact_point_add,
    contact_point_remove,
    contact_point_verification_start,
    contact_point_verify,
    customer_create,
    customer_merge,
    preferences_update,
    timeline_record,
)

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def _kinds(customer):
    return list(
        TimelineEntry.objects.filter(customer=customer)
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )


def _field(error):
    return error.value.body()["errors"][0]["field"]


# --- contact points -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "typed", "stored"),
    [
        ("US", "(201) 555-0123", "+12015550123"),
        ("US", "201.555.0123", "+12015550123"),
        ("US", "201 555 0123", "+12015550123"),
        ("US", "1-201-555-0123", "+12015550123"),
        ("US", "+1 201-555-0123", "+12015550123"),
        ("US", "+44 20 7946 0958", "+442079460958"),
        ("US", "011 44 20 7946 0958", "+442079460958"),
        ("US", "+33 6 12 34 56 78", "+33612345678"),
        ("GB", "020 7946 0958", "+442079460958"),
    ],
)
def test_phones_are_stored_in_e164(make_customer, settings, region, typed, stored):
    settings.PD_DEFAULT_REGION = region
    customer = make_customer()
    point = contact_point_add(actor=None, customer=customer, kind="phone", value=typed)
    assert point.value == stored
    assert ContactPoint.objects.get(pk=point.pk).value == stored


def test_emails_are_stored_lower_cased(make_customer):
    customer = make_customer()
    point = contact_point_add(
        actor=None, customer=customer, kind="email", value="  Ada.Lovelace@Example.COM "
    )
    assert point.value == "ada.lovelace@example.com"


def test_adding_a_contact_point_records_it_on_the_timeline(make_customer):
    customer = make_customer()
    point = contact_point_add(
        actor=customer.user, customer=customer, kind="whatsapp", value="+1 201 555 0123"
    )
    entry = TimelineEntry.objects.filter(customer=customer, kind="contact_point.added").get()
    assert entry.data == {"contact_point": point.public_id, "kind": "whatsapp"}
    assert entry.actor == customer.user
    assert "+12015550123" in entry.summary


def test_adding_the_same_number_again_in_another_format_is_a_no_op(make_customer):
    customer = make_customer()
    first = contact_point_add(actor=None, customer=customer, kind="phone", value="2015550123")
    again = contact_point_add(actor=None, customer=customer, kind="phone", value="(201) 555-0123")
    assert again.pk == first.pk
    assert customer.contact_points.filter(kind="phone").count() == 1


def test_a_contact_point_belongs_to_one_customer_per_kind(make_customer):
    # given
    ada, bob = make_customer(), make_customer(name="Bob")
    contact_point_add(actor=None, customer=ada, kind="phone", value="+1 201 555 0123")
    # when bob claims the same number written differently
    with pytest.raises(Conflict) as taken:
        contact_point_add(actor=None, customer=bob, kind="phone", value="201-555-0123")
    # then
    assert taken.value.code == "contact_point_taken"
    assert not bob.contact_points.filter(kind="phone").exists()
    assert not TimelineEntry.objects.filter(customer=bob, kind="contact_point.added").exists()
    # the same number on another channel kind is a different contact point
    contact_point_add(actor=None, customer=bob, kind="whatsapp", value="+12015550123")


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        ("phone", "12", "value"),
        ("phone", "call me maybe", "value"),
        ("phone", "555-0123", "value"),  # too short for a US number
        ("whatsapp", "+44 20", "value"),
        ("email", "ada@", "value"),
        ("email", "ada lovelace@example.com", "value"),
        ("webpush", "http://push.example.com/x", "value"),
        ("pigeon", "loft 3", "kind"),
    ],
)
def test_malformed_contact_points_are_refused_and_nothing_is_written(
    make_customer, kind, value, field
):
    # given
    customer = make_customer()
    points, entries = ContactPoint.objects.count(), TimelineEntry.objects.count()
    # when
    with pytest.raises(ValidationFailed) as refused:
        contact_point_add(actor=None, customer=customer, kind=kind, value=value)
    # then
    assert refused.value.status == 422
    assert _field(refused) == field
    assert ContactPoint.objects.count() == points
    assert TimelineEntry.objects.count() == entries


def test_removing_a_contact_point_records_it(make_customer):
    customer = make_customer()
    point = contact_point_add(actor=None, customer=customer, kind="phone", value="2015550123")
    contact_point_remove(actor=customer.user, point=point)
    assert not ContactPoint.objects.filter(pk=point.pk).exists()
    assert _kinds(customer)[-1] == "contact_point.removed"


# --- customers ------------------------------------------------------------------------------


def test_customer_create_normalises_its_contact_points(db, settings):
    settings.PD_DEFAULT_REGION = "US"
    customer = customer_create(
        actor=None, name="  Grace  ", email="Grace@Navy.MIL", phone="(201) 555-0123"
    )
    assert customer.name == "Grace"
    assert set(customer.contact_points.values_list("kind", "value")) == {
        ("email", "grace@navy.mil"),
        ("phone", "+12015550123"),
    }
    assert _kinds(customer) == ["customer.created"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "not a phone"}, "phone"),
        ({"email": "nope"}, "email"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "utc+2"}, "time_zone"),
        ({"language": "xx"}, "language"),
    ],
)
def test_customer_create_refuses_bad_input_and_writes_nothing(db, changes, field):
    kwargs = {"name": "Grace", "email": "grace@example.com", "phone": "2015550123"} | changes
    with pytest.raises(ValidationFailed) as refused:
        customer_create(actor=None, **kwargs)
    assert _field(refused) == field
    assert not Customer.objects.exists()
    assert not ContactPoint.objects.exists()
    assert not TimelineEntry.objects.exists()


def test_customer_create_with_a_taken_phone_writes_nothing(make_customer):
    make_customer(phone="+12015550123")
    customers = Customer.objects.count()
    with pytest.raises(Conflict):
        customer_create(actor=None, name="Copy", email="copy@example.com", phone="201 555 0123")
    assert Customer.objects.count() == customers
    assert not ContactPoint.objects.filter(value="copy@example.com").exists()


# --- timeline -------------------------------------------------------------------------------


def test_timeline_record_appends_an_entry(make_customer, agent):
    # given
    customer = make_customer()
    before = _kinds(customer)
    # when
    with clock.frozen_at(T0):
        entry = timeline_record(
            customer=customer,
            kind="shipment.delivered",
            summary="x" * 400,
            source="shipping",
            actor=agent,
            data={"shipment": "shp_1"},
        )
    backdated = timeline_record(
        customer=customer,
        kind="order.placed",
        summary="Order",
        source="shop",
        at=T0 - timedelta(days=1),
    )
    # then
    assert _kinds(customer)[: len(before)] == before
    entry.refresh_from_db()
    assert (entry.kind, entry.source, entry.actor, entry.at) == (
        "shipment.delivered",
        "shipping",
        agent,
        T0,
    )
    assert entry.data == {"shipment": "shp_1"}
    assert len(entry.summary) == 300  # cut to fit, never an error
    assert backdated.at == T0 - timedelta(days=1)
    assert TimelineEntry.objects.filter(customer=customer).count() == len(before) + 2


# --- preferences ----------------------------------------------------------------------------


def test_preferences_update_changes_and_records_each_change(make_customer):
    # given
    customer = make_customer(language="en", time_zone="Europe/London")
    # when
    with clock.frozen_at(T0):
        preferences_update(
            actor=customer.user,
            customer=customer,
            language="fr",
            time_zone="America/New_York",
            channel_ranking=["whatsapp", "email"],
            send_windows=[Window(4, time(9), time(17)), Window(0, time(8, 30), time(20))],
        )
    # then
    customer.refresh_from_db()
    assert (customer.language, customer.time_zone) == ("fr", "America/New_York")
    assert customer.channel_ranking == ["whatsapp", "email"]
    assert customer.updated_at == T0
    assert list(customer.send_windows.values_list("weekday", "starts_at", "ends_at")) == [
        (0, time(8, 30), time(20)),
        (4, time(9), time(17)),
    ]
    entry = TimelineEntry.objects.get(customer=customer, kind="preferences.changed")
    assert entry.actor == customer.user
    assert entry.data["language"] == "fr"
    assert entry.data["time_zone"] == "America/New_York"
    assert entry.data["channel_ranking"] == ["whatsapp", "email"]
    assert entry.data["send_windows"][0] == {"weekday": 0, "starts_at": "08:30", "ends_at": "20:00"}


def test_preferences_update_without_a_change_records_nothing(make_customer):
    # given
    customer = make_customer(language="en")
    windows = [Window(0, time(9), time(17))]
    preferences_update(actor=None, customer=customer, send_windows=windows)
    entries = TimelineEntry.objects.filter(customer=customer).count()
    # when the same values are sent again
    preferences_update(
        actor=None, customer=customer, language="en", send_windows=windows, channel_ranking=[]
    )
    # then
    assert TimelineEntry.objects.filter(customer=customer).count() == entries


def test_send_windows_can_be_cleared(make_customer):
    customer = make_customer()
    preferences_update(actor=None, customer=customer, send_windows=[Window(0, time(9), time(17))])
    preferences_update(actor=None, customer=customer, send_windows=[])
    assert not customer.send_windows.exists()
    assert _kinds(customer).count("preferences.changed") == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"language": "klingon"}, "language"),
        ({"channel_ranking": ["email", "carrier_pigeon"]}, "channel_ranking"),
        ({"channel_ranking": ["email", "email"]}, "channel_ranking"),
        ({"send_windows": [Window(1, time(17), time(9))]}, "send_windows"),
        ({"send_windows": [Window(1, time(9), time(9))]}, "send_windows"),
        ({"send_windows": [Window(7, time(9), time(17))]}, "send_windows"),
        (
            {"send_windows": [Window(1, time(9), time(12)), Window(1, time(13), time(17))]},
            "send_windows",
        ),
    ],
)
def test_bad_preferences_are_refused_and_nothing_changes(make_customer, changes, field):
    # given valid values are sent along with the bad one
    customer = make_customer(language="en", time_zone="Europe/London")
    preferences_update(actor=None, customer=customer, send_windows=[Window(2, time(9), time(17))])
    entries = TimelineEntry.objects.filter(customer=customer).count()
    # when
    kwargs = {"language": "fr", "time_zone": "America/New_York"} | changes
    with pytest.raises(ValidationFailed) as refused:
        preferences_update(actor=None, customer=customer, **kwargs)
    # then
    assert _field(refused) == field
    customer.refresh_from_db()
    assert customer.language == "en"
    assert customer.time_zone == "Europe/London"
    assert list(customer.send_windows.values_list("weekday", flat=True)) == [2]
    assert TimelineEntry.objects.filter(customer=customer).count() == entries


# --- consent --------------------------------------------------------------------------------


def test_consent_is_kept_per_purpose_with_time_and_source(make_customer):
    # given
    customer = make_customer()
    # when
    with clock.frozen_at(T0):
        consent_set(
            actor=customer.user, customer=customer, purpose="marketing", granted=True, source="web"
        )
        consent_set(actor=None, customer=customer, purpose="alerts", granted=True, source="api")
    with clock.frozen_at(T0 + timedelta(days=1)):
        consent_set(
            actor=None, customer=customer, purpose="marketing", granted=False, source="sms_keyword"
        )
    # then
    consents = {c.purpose: c for c in Consent.objects.filter(customer=customer)}
    assert consents["marketing"].granted is False
    assert consents["marketing"].source == "sms_keyword"
    assert consents["marketing"].changed_at == T0 + timedelta(days=1)
    assert consents["alerts"].granted is True
    assert consents["alerts"].changed_at == T0
    changes = TimelineEntry.objects.filter(customer=customer, kind="consent.changed").order_by(
        "at", "id"
    )
    assert [e.data for e in changes] == [
        {"purpose": "marketing", "granted": True, "source": "web"},
        {"purpose": "alerts", "granted": True, "source": "api"},
        {"purpose": "marketing", "granted": False, "source": "sms_keyword"},
    ]
    assert changes[0].actor == customer.user


def test_setting_the_same_consent_again_records_nothing(make_customer):
    customer = make_customer()
    consent_set(actor=None, customer=customer, purpose="alerts", granted=True, source="web")
    with clock.frozen_at(T0):
        consent = consent_set(
            actor=None, customer=customer, purpose="alerts", granted=True, source="api"
        )
    assert consent.source == "web"
    assert _kinds(customer).count("consent.changed") == 1


def test_unknown_consent_purpose_is_refused(make_customer):
    customer = make_customer()
    with pytest.raises(ValidationFailed) as refused:
        consent_set(actor=None, customer=customer, purpose="spam", granted=True, source="web")
    assert _field(refused) == "purpose"
    assert not Consent.objects.exists()


# --- verification ---------------------------------------------------------------------------


def _start(point, capture):
    """Ask for a code and return it, read from the email that was sent."""
    with capture(execute=True):
        contact_point_verification_start(actor=None, point=point)
    return point


def _code(mailoutbox):
    match = re.search(r"\b(\d{6})\b", mailoutbox[-1].body)
    assert match, mailoutbox[-1].body
    return match.group(1)


@pytest.fixture
def email_point(make_customer):
    customer = make_customer(email="ada@example.com")
    return customer.contact_points.get(kind="email")


def test_verification_code_is_emailed_and_verifies(
    email_point, mailoutbox, django_capture_on_commit_callbacks
):
    # when
    with clock.frozen_at(T0):
        _start(email_point, django_capture_on_commit_callbacks)
    # then one email went to the address, with a six-digit code
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ada@example.com"]
    code = _code(mailoutbox)
    assert code in mailoutbox[0].subject
    # and the code is not stored in the clear
    assert not VerificationCode.objects.filter(code_hash__contains=code).exists()
    # when the customer types it
    with clock.frozen_at(T0 + timedelta(minutes=1)):
        point = contact_point_verify(actor=None, point=email_point, code=f" {code} ")
    # then
    point.refresh_from_db()
    assert point.verified
    assert point.verified_at == T0 + timedelta(minutes=1)
    assert _kinds(point.customer)[-1] == "contact_point.verified"
    # and the code cannot be used twice
    with pytest.raises(ValidationFailed):
        contact_point_verify(actor=None, point=email_point, code=code)


def test_nothing_is_sent_when_the_transaction_rolls_back(
    email_point, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        contact_point_verification_start(actor=None, point=email_point)
    assert len(callbacks) == 1
    assert mailoutbox == []


def test_a_wrong_code_is_rejected_and_counted(
    email_point, mailoutbox, django_capture_on_commit_callbacks
):
    _start(email_point, django_capture_on_commit_callbacks)
    code = _code(mailoutbox)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(ValidationFailed) as refused:
        contact_point_verify(actor=None, point=email_point, code=wrong)
    assert refused.value.code == "code_wrong"
    assert VerificationCode.objects.get(contact_point=email_point).attempts == 1
    email_point.refresh_from_db()
    assert not email_point.verified


def test_five_wrong_codes_use_the_code_up(
    email_point, mailoutbox, django_capture_on_commit_callbacks
):
    # given
    _start(email_point, django_capture_on_commit_callbacks)
    code = _code(mailoutbox)
    wrong = "000000" if code != "000000" else "111111"
    # when
    for _ in range(CODE_MAX_ATTEMPTS):
        with pytest.raises(ValidationFailed) as refused:
            contact_point_verify(actor=None, point=email_point, code=wrong)
        assert refused.value.code == "code_wrong"
    # then even the right code no longer works
    with pytest.raises(ValidationFailed) as exhausted:
        contact_point_verify(actor=None, point=email_point, code=code)
    assert exhausted.value.code == "code_expired"
    email_point.refresh_from_db()
    assert not email_point.verified


def test_a_code_expires(email_point, mailoutbox, django_capture_on_commit_callbacks):
    with clock.frozen_at(T0):
        _start(email_point, django_capture_on_commit_callbacks)
    with clock.frozen_at(T0 + CODE_TTL), pytest.raises(ValidationFailed) as late:
        contact_point_verify(actor=None, point=email_point, code=_code(mailoutbox))
    assert late.value.code == "code_expired"


def test_resending_is_throttled_and_a_new_code_replaces_the_old(
    email_point, mailoutbox, django_capture_on_commit_callbacks
):
    # given
    with clock.frozen_at(T0):
        _start(email_point, django_capture_on_commit_callbacks)
    old_code = _code(mailoutbox)
    # when asked again at once
    with clock.frozen_at(T0 + timedelta(seconds=5)), pytest.raises(RateLimited):
        _start(email_point, django_capture_on_commit_callbacks)
    # then nothing more was sent
    assert len(mailoutbox) == 1
    # when asked after the pause
    with clock.frozen_at(T0 + CODE_RESEND_AFTER + timedelta(seconds=1)):
        _start(email_point, django_capture_on_commit_callbacks)
    new_code = _code(mailoutbox)
    assert len(mailoutbox) == 2
    # then only the new code works
    with clock.frozen_at(T0 + timedelta(minutes=1)):
        if old_code != new_code:
            with pytest.raises(ValidationFailed):
                contact_point_verify(actor=None, point=email_point, code=old_code)
        contact_point_verify(actor=None, point=email_point, code=new_code)
    email_point.refresh_from_db()
    assert email_point.verified


def test_at_most_five_codes_an_hour(email_point, mailoutbox, django_capture_on_commit_callbacks):
    for n in range(5):
        with clock.frozen_at(T0 + n * timedelta(minutes=1)):
            _start(email_point, django_capture_on_commit_callbacks)
    with clock.frozen_at(T0 + timedelta(minutes=10)), pytest.raises(RateLimited):
        _start(email_point, django_capture_on_commit_callbacks)
    with clock.frozen_at(T0 + timedelta(minutes=61)):
        _start(email_point, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 6


def test_a_verified_point_is_not_verified_again(
    email_point, mailoutbox, django_capture_on_commit_callbacks
):
    _start(email_point, django_capture_on_commit_callbacks)
    contact_point_verify(actor=None, point=email_point, code=_code(mailoutbox))
    with pytest.raises(Conflict) as again:
        contact_point_verification_start(actor=None, point=email_point)
    assert again.value.code == "already_verified"


def test_kinds_without_a_code_channel_say_so(make_customer):
    customer = make_customer()
    point = contact_point_add(actor=None, customer=customer, kind="messenger", value="psid-123")
    with pytest.raises(ValidationFailed) as refused:
        contact_point_verification_start(actor=None, point=point)
    assert refused.value.code == "verification_unavailable"
    assert not VerificationCode.objects.exists()


# --- merge ----------------------------------------------------------------------------------


@pytest.fixture
def registered_unit(admin_user):
    product = product_create(actor=admin_user, gtin="4006381333931", name="Kettle")
    return unit_create(actor=admin_user, product=product, serial="K-1")


def test_merge_moves_everything_to_the_target(make_customer, agent, registered_unit, admin_user):
    # given a duplicate made from an unknown SMS sender, with its own history
    target = make_customer(name="Ada Lovelace", email="ada@example.com")
    source = customer_create(actor=None, name="", phone="+1 201 555 0123", is_lead=True)
    timeline_record(customer=source, kind="message.received", summary="Hi", source="messaging")
    consent_set(actor=None, customer=source, purpose="alerts", granted=True, source="sms_keyword")
    consent_set(actor=None, customer=source, purpose="marketing", granted=True, source="sms")
    consent_set(actor=None, customer=target, purpose="marketing", granted=False, source="web")
    preferences_update(actor=None, customer=source, send_windows=[Window(0, time(9), time(17))])
    registration = unit_register(
        actor=admin_user, customer=source, gtin="4006381333931", serial="K-1"
    )
    # when
    with clock.frozen_at(T0):
        merged = customer_merge(actor=agent, source=source, target=target)
    # then the target has the contact points, history and registration
    assert merged.pk == target.pk
    assert set(target.contact_points.values_list("value", flat=True)) == {
        "ada@example.com",
        "+12015550123",
    }
    assert not source.contact_points.exists()
    kinds = _kinds(target)
    assert {"message.received", "unit.registered", "customer.merged"} <= set(kinds)
    assert not TimelineEntry.objects.filter(customer=source).exists()
    assert UnitRegistration.objects.get(pk=registration.pk).customer_id == target.pk
    # consents: the target keeps its own answer and gains the one it lacked
    consents = dict(Consent.objects.filter(customer=target).values_list("purpose", "granted"))
    assert consents == {"marketing": False, "alerts": True}
    assert list(SendWindow.objects.filter(customer=target).values_list("weekday", flat=True)) == [0]
    # and the source points at the target
    source.refresh_from_db()
    assert source.merged_into_id == target.pk
    # audited
    event = AuditEvent.objects.get(action="customer.merged")
    assert (event.actor, event.target_id, event.at) == (agent, target.public_id, T0)
    assert event.data["source"] == source.public_id
    assert event.data["moved"]["catalog.unitregistration"] == 1


def test_merging_twice_is_a_no_op(make_customer, agent):
    # given
    target, source = make_customer(), make_customer(name="Dup")
    customer_merge(actor=agent, source=source, target=target)
    entries = TimelineEntry.objects.count()
    # when
    again = customer_merge(actor=agent, source=source, target=target)
    # then
    assert again.pk == target.pk
    assert TimelineEntry.objects.count() == entries
    assert AuditEvent.objects.filter(action="customer.merged").count() == 1


def test_merge_hands_the_login_to_a_target_without_one(make_customer, agent):
    source = make_customer()
    target = customer_create(actor=agent, name="Ada", phone="+12015550123")
    user = source.user
    customer_merge(actor=agent, source=source, target=target)
    target.refresh_from_db()
    source.refresh_from_db()
    assert target.user == user
    assert source.user is None


def test_a_customer_is_not_merged_into_itself(make_customer, agent):
    customer = make_customer()
    with pytest.raises(ValidationFailed):
        customer_merge(actor=agent, source=customer, target=customer)
    customer.refresh_from_db()
    assert customer.merged_into is None
    assert not AuditEvent.objects.filter(action="customer.merged").exists()


def test_a_merged_customer_cannot_be_merged_elsewhere(make_customer, agent):
    a, b, c = make_customer(name="A"), make_customer(name="B"), make_customer(name="C")
    customer_merge(actor=agent, source=a, target=b)
    with pytest.raises(Conflict) as refused:
        customer_merge(actor=agent, source=a, target=c)
    assert refused.value.code == "already_merged"
    with pytest.raises(Conflict):
        customer_merge(actor=agent, source=c, target=a)


@pytest.mark.parametrize("role", ["customer", "employee", "partner"])
def test_only_staff_merge(make_customer, make_user, role):
    a, b = make_customer(name="A"), make_customer(name="B")
    with pytest.raises(NotFound):
        customer_merge(actor=make_user(role), source=a, target=b)
    a.refresh_from_db()
    assert a.merged_into is None
