"""Segments: filters checked when saved (422 `invalid_segment` with the reason), members found
by one query that never returns merged customers."""

from datetime import UTC, datetime

import pytest

from pocketdesk.core import clock
from pocketdesk.core.errors import NotFound, ValidationFailed
from pocketdesk.customers.services import (
    consent_set,
    contact_point_add,
    customer_create,
    customer_merge,
)
from pocketdesk.notifications.models import Segment
from pocketdesk.notifications.segments import (
    segment_customers,
    segment_filters_check,
    segment_filters_customers,
    segment_get,
)
from pocketdesk.notifications.services.configuration import segment_create
from pocketdesk.notifications.services.subscriptions import subscription_add

pytestmark = pytest.mark.django_db


def _customer(name, *, phone=None, language="en", time_zone="UTC", email=None):
    return customer_create(
        actor=None, name=name, phone=phone, email=email, language=language, time_zone=time_zone
    )


def _names(filters):
    return sorted(c.name for c in segment_filters_customers(segment_filters_check(filters)))


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        ([], "an object"),
        ("language=fr", "an object"),
        ({"lang": ["fr"]}, "Unknown filter 'lang'"),
        ({"language": "fr"}, "language is a list"),
        ({"language": []}, "language is a list"),
        ({"language": ["xx"]}, "'xx' is not offered"),
        ({"time_zone": ["Mars/Olympus"]}, "not an IANA time zone"),
        ({"country": ["UK"]}, "'UK' is not an ISO 3166"),
        ({"country": ["FRA"]}, "not an ISO 3166"),
        ({"country": [33]}, "country is a list"),
        ({"topic": "flight AC1"}, "topic:"),
        ({"topic": ["flight:AC1"]}, "topic:"),
        ({"consent": ["newsletters"]}, "'newsletters' is not one of"),
        ({"created_after": "31/01/2026"}, "created_after is an ISO date"),
        ({"created_after": 20260131}, "created_after is an ISO date"),
        ({"customers": ["cus_nobody"]}, "no customer 'cus_nobody'"),
        ({"customers": "cus_1"}, "customers is a list"),
    ],
)
def test_malformed_filters_are_refused_with_the_reason(filters, reason):
    with pytest.raises(ValidationFailed) as failure:
        segment_filters_check(filters)

    assert failure.value.code == "invalid_segment"
    assert reason in failure.value.detail


def test_filters_are_normalised():
    checked = segment_filters_check(
        {"country": ["fr", "FR", "gb"], "language": ["fr", "fr"], "created_after": "2026-01-31"}
    )
    assert checked == {"language": ["fr"], "country": ["FR", "GB"], "created_after": "2026-01-31"}
    assert segment_filters_check({}) == {}


def test_language_time_zone_consent_and_topic_filters_all_must_match(admin_user):
    ada = _customer("Ada", language="fr", time_zone="Europe/Paris")
    bob = _customer("Bob", language="fr", time_zone="Europe/Paris")
    cid = _customer("Cid", language="en", time_zone="Europe/Paris")
    dee = _customer("Dee", language="fr", time_zone="America/Toronto")
    for customer in (ada, cid, dee):
        consent_set(actor=None, customer=customer, purpose="marketing", granted=True, source="web")
    consent_set(actor=None, customer=bob, purpose="marketing", granted=False, source="web")
    consent_set(actor=None, customer=ada, purpose="alerts", granted=True, source="web")
    for customer in (ada, bob, dee):
        subscription_add(actor=admin_user, customer=customer, topic="flight:AC1")

    assert _names({}) == ["Ada", "Bob", "Cid", "Dee"]
    assert _names({"language": ["fr"]}) == ["Ada", "Bob", "Dee"]
    assert _names({"language": ["fr"], "time_zone": ["Europe/Paris"]}) == ["Ada", "Bob"]
    assert _names({"consent": ["marketing"]}) == ["Ada", "Cid", "Dee"]
    assert _names({"consent": ["marketing", "alerts"]}) == ["Ada"]
    assert _names({"topic": "flight:AC1", "consent": ["marketing"]}) == ["Ada", "Dee"]
    assert _names({"topic": "flight:AC2"}) == []


def test_country_matches_the_calling_code_of_a_phone_or_whatsapp_number():
    _customer("Paris", phone="+33612345678")
    _customer("London", phone="+447911123456")
    _customer("San Juan", phone="+17875550123")
    _customer("New York", phone="+12125550123")
    _customer("Ottawa", phone="+16135550123")
    _customer("Almaty", phone="+77012345678")
    moscow = _customer("Moscow", email="moscow@test.example")
    contact_point_add(actor=None, customer=moscow, kind="whatsapp", value="+79161234567")
    _customer("Mail only", email="mail@test.example")

    assert _names({"country": ["FR"]}) == ["Paris"]
    assert _names({"country": ["FR", "GB"]}) == ["London", "Paris"]
    # Shared calling codes are told apart where phonenumbers has leading digits.
    assert _names({"country": ["PR"]}) == ["San Juan"]
    # Where only whole-number patterns tell them apart, the prefix rule cannot (documented).
    assert _names({"country": ["US"]}) == ["New York", "Ottawa"]
    assert _names({"country": ["CA"]}) == ["New York", "Ottawa"]
    assert _names({"country": ["KZ"]}) == ["Almaty"]
    assert _names({"country": ["RU"]}) == ["Moscow"]
    assert _names({"country": ["DE"]}) == []


def test_created_after_and_explicit_customers():
    with clock.frozen_at(datetime(2025, 12, 31, 23, 59, tzinfo=UTC)):
        old = _customer("Old")
    with clock.frozen_at(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)):
        new = _customer("New")

    assert _names({"created_after": "2026-01-01"}) == ["New"]
    assert _names({"created_after": "2025-12-31T23:59:00+00:00"}) == ["New", "Old"]
    assert _names({"customers": [old.public_id]}) == ["Old"]
    assert _names({"customers": [old.public_id, new.public_id], "created_after": "2026-01-01"}) == [
        "New"
    ]


def test_merged_customers_never_count_and_a_merged_id_means_the_survivor(agent):
    source = _customer("Source", language="fr")
    target = _customer("Target", language="en")
    other = _customer("Other", language="fr")
    segment = Segment(key="listed", filters={"customers": [source.public_id, other.public_id]})
    before = sorted(c.name for c in segment_customers(segment))

    customer_merge(actor=agent, source=source, target=target)

    assert before == ["Other", "Source"]
    assert sorted(c.name for c in segment_customers(segment)) == ["Other", "Target"]
    assert _names({"language": ["fr"]}) == ["Other"]


def test_segment_members_are_one_query(admin_user, django_assert_num_queries):
    for n in range(30):
        customer = _customer(f"C{n}", phone=f"+4479111{n:05d}", language="fr")
        consent_set(actor=None, customer=customer, purpose="alerts", granted=True, source="web")
        subscription_add(actor=admin_user, customer=customer, topic="lot:1")
    filters = {
        "language": ["fr"],
        "time_zone": ["UTC"],
        "country": ["GB"],
        "topic": "lot:1",
        "consent": ["alerts"],
        "created_after": "2020-01-01",
    }
    segment = segment_create(actor=admin_user, key="uk-fr", name="UK French", filters=filters)

    with django_assert_num_queries(1):
        members = list(segment_customers(segment).values_list("pk", flat=True))

    assert len(members) == 30


def test_stored_filters_that_no_longer_pass_match_nobody():
    _customer("Ada")
    broken = Segment(key="broken", filters={"planet": "Mars"})
    assert list(segment_customers(broken)) == []


def test_a_segment_is_found_by_key_or_public_id(admin_user):
    segment = segment_create(actor=admin_user, key="vip", name="VIP", filters={})

    assert segment_get("vip") == segment
    assert segment_get(segment.public_id) == segment
    for missing in ("nope", ""):
        with pytest.raises(NotFound):
            segment_get(missing)
