"""Core services: public ids, the clock, the audit log and the idempotency-key lifecycle."""

import itertools
import re
import time as systime
from datetime import UTC, datetime, time, timedelta

import pytest

from pocketdesk.accounts.services import api_token_create
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict
from pocketdesk.core.ids import public_id_new
from pocketdesk.core.models import AuditEvent, IdempotencyKey
from pocketdesk.core.services import (
    StoredResponse,
    audit_record,
    idempotency_begin,
    idempotency_finish,
    idempotency_prune,
    request_fingerprint,
)
from pocketdesk.customers.models import Customer, SendWindow, TimelineEntry
from pocketdesk.customers.services import Window, preferences_update

ULID_BODY = r"[0-9a-hjkmnp-tv-z]{26}"  # Crockford base32, lower-cased


# --- public ids -----------------------------------------------------------------------------


def test_public_id_is_the_prefix_and_a_lower_case_ulid():
    assert re.fullmatch(rf"cus_{ULID_BODY}", public_id_new("cus"))


def test_public_ids_are_unique():
    ids = {public_id_new("tle") for _ in range(5_000)}
    assert len(ids) == 5_000


def test_public_ids_sort_in_the_order_they_were_made():
    earlier = public_id_new("tle")
    systime.sleep(0.002)
    assert public_id_new("tle") > earlier


def test_public_ids_of_one_millisecond_do_not_reveal_each_other():
    # ids made back to back share their time part; their random parts must not be +1 steps
    from ulid import ULID

    burst = [ULID.from_str(public_id_new("tle").split("_", 1)[1].upper()) for _ in range(200)]
    same_ms = [(a, b) for a, b in itertools.pairwise(burst) if a.timestamp == b.timestamp]
    assert same_ms
    steps = [abs(int.from_bytes(b.bytes[6:]) - int.from_bytes(a.bytes[6:])) for a, b in same_ms]
    assert min(steps) > 1_000_000


def test_models_get_a_prefixed_public_id_on_insert(make_customer):
    customer = make_customer()
    token, _ = api_token_create(actor=customer.user, user=customer.user, name="phone")
    assert customer.public_id.startswith("cus_")
    assert customer.user.public_id.startswith("usr_")
    assert token.public_id.startswith("tok_")
    # the id is stored, not recomputed on read
    assert Customer.objects.get(pk=customer.pk).public_id == customer.public_id


def test_bulk_create_fills_public_ids_too(make_customer):
    customer = make_customer()
    entries = TimelineEntry.objects.bulk_create(
        TimelineEntry(
            customer=customer, kind="import", summary=str(n), source="import", at=clock.now()
        )
        for n in range(3)
    )
    stored = TimelineEntry.objects.filter(kind="import").values_list("public_id", flat=True)
    assert len(set(stored)) == 3
    assert all(public_id.startswith("tle_") for public_id in stored)
    assert {entry.public_id for entry in entries} == set(stored)


# --- clock ----------------------------------------------------------------------------------


def test_clock_now_is_the_real_time_by_default():
    before = datetime.now(UTC)
    now = clock.now()
    after = datetime.now(UTC)
    assert before <= now <= after


def test_frozen_at_sets_now_inside_the_block_and_nests():
    outer = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    inner = outer + timedelta(days=1)
    with clock.frozen_at(outer):
        assert clock.now() == outer
        with clock.frozen_at(inner):
            assert clock.now() == inner
        assert clock.now() == outer
    assert clock.now() != outer
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_frozen_at_is_released_when_the_block_raises():
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(RuntimeError), clock.frozen_at(moment):
        raise RuntimeError("boom")
    assert clock.now() != moment


def test_frozen_at_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="aware"), clock.frozen_at(datetime(2030, 1, 1)):
        pass


def test_services_read_the_frozen_clock(make_customer):
    moment = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    with clock.frozen_at(moment):
        customer = make_customer()
    assert customer.created_at == moment
    assert Customer.objects.get(pk=customer.pk).created_at == moment


# --- audit log ------------------------------------------------------------------------------


def test_audit_record_names_actor_target_and_time(make_customer, agent):
    # given
    customer = make_customer()
    moment = datetime(2032, 1, 1, 12, 0, tzinfo=UTC)
    # when
    with clock.frozen_at(moment):
        event = audit_record(
            actor=agent, action="customer.viewed", target=customer, data={"why": "call"}
        )
    # then
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor == agent
    assert stored.action == "customer.viewed"
    assert stored.target_type == "customers.customer"
    assert stored.target_id == customer.public_id
    assert stored.data == {"why": "call"}
    assert stored.at == moment


def test_audit_record_by_the_system_has_no_actor_and_falls_back_to_the_pk(make_customer):
    # given a row without a public id (a send window)
    customer = make_customer()
    preferences_update(actor=None, customer=customer, send_windows=[Window(0, time(9), time(17))])
    window = SendWindow.objects.get(customer=customer)
    # when the system records an event about it
    event = audit_record(actor=None, action="window.checked", target=window)
    # then
    event.refresh_from_db()
    assert event.actor is None
    assert event.target_type == "customers.sendwindow"
    assert event.target_id == str(window.pk)
    assert event.data == {}


# --- idempotency keys -----------------------------------------------------------------------


def test_idempotency_key_claim_store_and_replay(agent):
    fingerprint = request_fingerprint(method="POST", path="/api/v1/x", body=b'{"a":1}')
    # the first request claims the key
    assert idempotency_begin(user_id=agent.pk, key="k1", fingerprint=fingerprint) is None
    # a second one while the first runs is told to wait
    with pytest.raises(Conflict) as running:
        idempotency_begin(user_id=agent.pk, key="k1", fingerprint=fingerprint)
    assert running.value.code == "idempotency_key_in_use"
    # once stored, the same request gets the stored response
    stored = StoredResponse(201, "application/json", b'{"id": "x"}')
    idempotency_finish(user_id=agent.pk, key="k1", response=stored)
    assert idempotency_begin(user_id=agent.pk, key="k1", fingerprint=fingerprint) == stored
    # another request with the same key is refused
    other = request_fingerprint(method="POST", path="/api/v1/x", body=b'{"a":2}')
    with pytest.raises(Conflict) as reused:
        idempotency_begin(user_id=agent.pk, key="k1", fingerprint=other)
    assert reused.value.code == "idempotency_key_reused"


def test_idempotency_key_released_without_a_response_can_be_claimed_again(agent):
    assert idempotency_begin(user_id=agent.pk, key="k", fingerprint="a") is None
    idempotency_finish(user_id=agent.pk, key="k", response=None)
    assert not IdempotencyKey.objects.filter(key="k").exists()
    assert idempotency_begin(user_id=agent.pk, key="k", fingerprint="b") is None


def test_idempotency_keys_belong_to_one_user(make_user):
    alice, bob = make_user("agent"), make_user("agent")
    assert idempotency_begin(user_id=alice.pk, key="same", fingerprint="a") is None
    assert idempotency_begin(user_id=bob.pk, key="same", fingerprint="b") is None


def test_request_fingerprint_covers_method_path_and_body():
    base = request_fingerprint(method="POST", path="/a", body=b"x")
    assert base == request_fingerprint(method="POST", path="/a", body=b"x")
    assert base != request_fingerprint(method="PUT", path="/a", body=b"x")
    assert base != request_fingerprint(method="POST", path="/a?x=1", body=b"x")
    assert base != request_fingerprint(method="POST", path="/a", body=b"y")


def test_idempotency_prune_deletes_only_old_keys(agent):
    now = clock.now()
    with clock.frozen_at(now - timedelta(days=2)):
        idempotency_begin(user_id=agent.pk, key="old", fingerprint="a")
    idempotency_begin(user_id=agent.pk, key="new", fingerprint="b")
    assert idempotency_prune(older_than=now - timedelta(days=1)) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
