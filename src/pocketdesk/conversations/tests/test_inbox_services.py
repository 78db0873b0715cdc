"""Inbox writes: round-robin assignment under capacity (also when racing), manual assignment
and what it pushes, automatic assignment of inbound SMS, status/snooze, priority, labels,
internal notes that never leave, read state, canned replies."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from twilio.request_validator import RequestValidator

from pocketdesk.conversations.models import CannedReply, Conversation, Message
from pocketdesk.conversations.selectors import conversation_get
from pocketdesk.conversations.services import inbox
from pocketdesk.conversations.tests.factories import (
    SUPPORT_NUMBER,
    TWILIO_SID,
    TWILIO_TOKEN,
    Listener,
    available_agent,
    customer_says,
    layer_settings,
    sms_channel,
)
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.core.models import AuditEvent
from pocketdesk.core.realtime import STAFF_GROUP, user_group
from pocketdesk.messaging.fake_providers import twilio_sid
from pocketdesk.messaging.models import Outbound
from pocketdesk.messaging.services import inbound_drain

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def channel(db):
    return sms_channel()


@pytest.fixture
def layer(settings, tmp_path):
    settings.CHANNEL_LAYERS = layer_settings(str(tmp_path / "channels.sqlite3"))


def _threads(make_customer, channel, n):
    conversations = []
    for i in range(n):
        customer = make_customer(name=f"Customer {i}", phone=f"+44 7911 1230{i:02d}")
        conversations.append(customer_says(customer, f"help {i}", channel=channel).conversation)
    return conversations


def test_round_robin_picks_least_loaded_agent_under_capacity(make_user, make_customer, channel):
    # given two available agents (capacity 2 and 1), one away, and four new conversations
    first = available_agent(make_user, max_open=2)
    second = available_agent(make_user, max_open=1)
    away = make_user("agent")
    c1, c2, c3, c4 = _threads(make_customer, channel, 4)

    # when each is given to the next agent
    with clock.frozen_at(T0):
        assert inbox.conversation_assign_next(actor=None, conversation=c1).assignee == first
    with clock.frozen_at(T0 + timedelta(minutes=1)):
        assert inbox.conversation_assign_next(actor=None, conversation=c2).assignee == second
    # a tie on load goes to the agent assigned longest ago
    with clock.frozen_at(T0 + timedelta(minutes=2)):
        assert inbox.conversation_assign_next(actor=None, conversation=c3).assignee == first

    # then once everyone is full the fourth stays unassigned
    with pytest.raises(Conflict) as full:
        inbox.conversation_assign_next(actor=None, conversation=c4)
    assert full.value.code == "no_agent_available"
    c4.refresh_from_db()
    assert c4.assignee is None
    assert not Conversation.objects.filter(assignee=away).exists()


def test_resolved_conversations_free_capacity(make_user, make_customer, channel):
    agent = available_agent(make_user, max_open=1)
    c1, c2 = _threads(make_customer, channel, 2)
    inbox.conversation_assign_next(actor=agent, conversation=c1)
    with pytest.raises(Conflict):
        inbox.conversation_assign_next(actor=agent, conversation=c2)
    inbox.conversation_status_set(actor=agent, conversation=c1, status="resolved")
    assert inbox.conversation_assign_next(actor=agent, conversation=c2).assignee == agent


def test_a_manual_assignment_counts_for_the_round_robin(make_user, make_customer, channel):
    # given two idle agents; the first was just given a conversation by hand, then resolved it
    first, second = available_agent(make_user), available_agent(make_user)
    c1, c2 = _threads(make_customer, channel, 2)
    with clock.frozen_at(T0):
        inbox.conversation_assign(actor=first, conversation=c1, assignee=first)
    inbox.conversation_status_set(actor=first, conversation=c1, status="resolved")
    # when the next conversation comes, the other agent (never assigned) gets it
    with clock.frozen_at(T0 + timedelta(minutes=5)):
        assert inbox.conversation_assign_next(actor=None, conversation=c2).assignee == second


@pytest.mark.django_db(transaction=True)
def test_concurrent_assign_next_never_exceeds_capacity(make_user, make_customer):
    # given two agents with room for one conversation each, and four conversations
    agents = [available_agent(make_user, max_open=1) for _ in range(2)]
    conversations = _threads(make_customer, sms_channel(), 4)
    outcomes: list[str] = []
    start = threading.Barrier(len(conversations))

    def assign(conversation):
        try:
            start.wait()
            inbox.conversation_assign_next(actor=None, conversation=conversation)
            outcomes.append("assigned")
        except Conflict as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    # when four workers assign at the same moment
    workers = [threading.Thread(target=assign, args=(c,)) for c in conversations]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    # then each agent got exactly one and two are left for later
    assert sorted(outcomes) == ["assigned", "assigned", "no_agent_available", "no_agent_available"]
    loads = sorted(
        Conversation.objects.filter(assignee__in=agents).values_list("assignee", flat=True)
    )
    assert loads == sorted(a.pk for a in agents)


def test_manual_assignment_is_audited_and_pushed_to_staff_and_assignee(
    layer, make_user, make_customer, channel, django_capture_on_commit_callbacks
):
    admin, agent = make_user("admin"), make_user("agent")
    customer = make_customer(phone="+44 7911 123456")
    conversation = customer_says(customer, "hello", channel=channel).conversation
    staff, assignee, customer_socket = (
        Listener(STAFF_GROUP),
        Listener(user_group(agent.public_id)),
        Listener(user_group(customer.user.public_id)),
    )

    with django_capture_on_commit_callbacks(execute=True):
        inbox.conversation_assign(actor=admin, conversation=conversation, assignee=agent)

    audit = AuditEvent.objects.get(action="conversation.assigned")
    assert (audit.actor, audit.target_id, audit.data["assignee"]) == (
        admin,
        conversation.public_id,
        agent.public_id,
    )
    staff_events = dict(staff.drain())
    assert staff_events["conversation.assigned"]["assignee"] == agent.public_id
    assert staff_events["conversation.updated"]["changes"] == ["assignee"]
    assert [e for e, _ in assignee.drain()] == ["conversation.assigned"]
    assert customer_socket.drain() == []


def test_only_staff_assign_and_only_staff_are_assigned(make_user, make_customer, channel):
    agent = make_user("agent")
    customer = make_customer(phone="+44 7911 123457")
    conversation = customer_says(customer, "hi", channel=channel).conversation
    with pytest.raises(PermissionDenied):
        inbox.conversation_assign(actor=customer.user, conversation=conversation, assignee=agent)
    with pytest.raises(ValidationFailed) as refused:
        inbox.conversation_assign(actor=agent, conversation=conversation, assignee=customer.user)
    assert refused.value.code == "not_an_agent"


def _signed_sms(settings, sender, body):
    params = {
        "MessageSid": twilio_sid("SM"),
        "AccountSid": TWILIO_SID,
        "From": sender,
        "To": SUPPORT_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    url = settings.PD_PUBLIC_URL + "/webhooks/twilio/sms"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return Client().post("/webhooks/twilio/sms", params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_inbound_sms_is_auto_assigned_when_enabled(
    settings, make_user, channel, django_capture_on_commit_callbacks
):
    settings.PD_AUTO_ASSIGN = True
    agent = available_agent(make_user)
    assert _signed_sms(settings, "+447911123458", "Where is my order?").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):  # assignment runs after commit
        inbound_drain()
    conversation = Conversation.objects.get()
    assert conversation.assignee == agent
    assert AuditEvent.objects.get(action="conversation.assigned").data["rule"] == "round_robin"


def test_inbound_sms_stays_unassigned_when_disabled_or_nobody_has_room(
    settings, make_user, channel, django_capture_on_commit_callbacks
):
    settings.PD_AUTO_ASSIGN = False
    agent = available_agent(make_user)
    _signed_sms(settings, "+447911123459", "one")
    with django_capture_on_commit_callbacks(execute=True):
        inbound_drain()
    assert Conversation.objects.get().assignee is None

    settings.PD_AUTO_ASSIGN = True
    Conversation.objects.update(status="resolved")
    available_agent(make_user, max_open=0)
    make_user("agent")  # never said they are available
    _signed_sms(settings, "+447911123459", "two")
    with django_capture_on_commit_callbacks(execute=True):
        inbound_drain()
    # the one available agent with room got it
    assert Conversation.objects.exclude(status="resolved").get().assignee == agent


def test_snooze_needs_a_future_time_and_wakes_up(make_user, make_customer, channel):
    agent = make_user("agent")
    customer = make_customer(phone="+44 7911 123460")
    conversation = customer_says(customer, "call me later", channel=channel).conversation
    with clock.frozen_at(T0):
        with pytest.raises(ValidationFailed) as past:
            inbox.conversation_status_set(
                actor=agent, conversation=conversation, status="snoozed", snoozed_until=T0
            )
        assert past.value.code == "snooze_needs_future_time"
        inbox.conversation_status_set(
            actor=agent,
            conversation=conversation,
            status="snoozed",
            snoozed_until=T0 + timedelta(hours=4),
        )
    with clock.frozen_at(T0 + timedelta(hours=3)):
        assert inbox.conversations_snoozed_wake() == 0
    with clock.frozen_at(T0 + timedelta(hours=4)):
        assert inbox.conversations_snoozed_wake() == 1
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    with pytest.raises(ValidationFailed) as bad:
        inbox.conversation_status_set(actor=agent, conversation=conversation, status="closed")
    assert bad.value.code == "bad_status"


def test_priority_and_labels(make_user, make_customer, channel):
    agent = make_user("agent")
    customer = make_customer(phone="+44 7911 123461")
    conversation = customer_says(customer, "refund?", channel=channel).conversation
    inbox.conversation_priority_set(actor=agent, conversation=conversation, priority="urgent")
    with pytest.raises(ValidationFailed):
        inbox.conversation_priority_set(actor=agent, conversation=conversation, priority="asap")
    inbox.conversation_label_add(actor=agent, conversation=conversation, name="Billing")
    inbox.conversation_label_add(actor=agent, conversation=conversation, name="  billing ")
    inbox.conversation_label_add(actor=agent, conversation=conversation, name="VIP")
    conversation.refresh_from_db()
    assert conversation.priority == "urgent"
    assert sorted(conversation.labels.values_list("name", flat=True)) == ["Billing", "VIP"]
    inbox.conversation_label_remove(actor=agent, conversation=conversation, name="vip")
    assert list(conversation.labels.values_list("name", flat=True)) == ["Billing"]
    with pytest.raises(Conflict):
        inbox.label_create(actor=agent, name="BILLING")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "conversation.priority_changed",
        "conversation.labelled",
        "conversation.unlabelled",
    } <= actions


def test_a_note_is_never_sent_nor_shown_to_the_customer(
    layer, make_user, make_customer, channel, django_capture_on_commit_callbacks
):
    agent = make_user("agent")
    customer = make_customer(phone="+44 7911 123462")
    conversation = customer_says(
        customer, "my card was charged twice", channel=channel
    ).conversation
    staff, customer_socket = Listener(STAFF_GROUP), Listener(user_group(customer.user.public_id))

    with django_capture_on_commit_callbacks(execute=True):
        note = inbox.note_add(actor=agent, conversation=conversation, text="  Refund approved  ")

    assert (note.direction, note.text, note.author, note.outbound) == (
        "note",
        "Refund approved",
        agent,
        None,
    )
    assert not Outbound.objects.exists()
    assert [(e, d["message"]) for e, d in staff.drain()] == [("message.created", note.public_id)]
    assert customer_socket.drain() == []
    with pytest.raises(ValidationFailed):
        inbox.note_add(actor=agent, conversation=conversation, text="   ")


def test_mark_read_clears_the_unread_count_once(
    layer, make_user, make_customer, channel, django_capture_on_commit_callbacks
):
    agent = make_user("agent")
    customer = make_customer(phone="+44 7911 123463")
    customer_says(customer, "one", channel=channel)
    conversation = customer_says(customer, "two", channel=channel).conversation
    conversation.refresh_from_db()
    assert conversation.unread_count == 2
    staff = Listener(STAFF_GROUP)
    with django_capture_on_commit_callbacks(execute=True):
        inbox.conversation_mark_read(actor=agent, conversation=conversation)
        inbox.conversation_mark_read(actor=agent, conversation=conversation)
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert [e for e, _ in staff.drain()] == ["conversation.updated"]


def test_canned_reply_fills_known_variables_only(make_user, make_customer, channel):
    agent = make_user("agent")
    agent.name = "Sam Rivera"
    agent.save()
    customer = make_customer(name="<b>Ada</b> & Co", phone="+44 7911 123464")
    conversation = customer_says(customer, "hi", channel=channel).conversation
    reply = inbox.canned_reply_create(
        actor=agent,
        shortcut="/Hello",
        title="Greeting",
        text="Hi {{ customer.first_name }}, {{agent.first_name}} here ({{conversation.id}}).",
    )
    assert reply.shortcut == "hello"
    text = inbox.canned_reply_render(reply=reply, conversation=conversation, agent=agent)
    # plain text: the page escapes it when shown, the SMS carries it as is
    assert text == f"Hi <b>Ada</b>, Sam here ({conversation.public_id})."

    for bad in ("{{customer.user.password}}", "{{ customer.__class__ }}", "{{agent.email}}"):
        with pytest.raises(ValidationFailed) as refused:
            inbox.canned_reply_create(actor=agent, shortcut="bad", text=f"x {bad}")
        assert refused.value.code == "unknown_variable"
    with pytest.raises(Conflict):
        inbox.canned_reply_create(actor=agent, shortcut="hello", text="again")
    assert CannedReply.objects.count() == 1
    # a text stored some other way keeps what it does not know, literally
    odd = CannedReply(shortcut="odd", text="{{customer.user.email}} {{customer.name}}")
    rendered = inbox.canned_reply_render(reply=odd, conversation=conversation, agent=agent)
    assert rendered == "{{customer.user.email}} <b>Ada</b> & Co"


def test_agents_set_their_own_availability_admins_anyones(make_user):
    agent, other, admin = make_user("agent"), make_user("agent"), make_user("admin")
    assert inbox.agent_profile_set(actor=agent, agent=agent, available=True).available
    with pytest.raises(PermissionDenied):
        inbox.agent_profile_set(actor=agent, agent=other, available=True)
    profile = inbox.agent_profile_set(actor=admin, agent=other, max_open=3)
    assert (profile.available, profile.max_open) == (False, 3)
    with pytest.raises(ValidationFailed):
        inbox.agent_profile_set(actor=admin, agent=other, max_open=1000)


def test_message_preview_ignores_notes(make_user, make_customer, channel):
    # (the inbox row shows what the customer saw last, not the agents' notes)
    agent = make_user("agent")
    customer = make_customer(phone="+44 7911 123465")
    conversation = customer_says(customer, "customer words", channel=channel).conversation
    inbox.note_add(actor=agent, conversation=conversation, text="internal words")
    assert Message.objects.filter(conversation=conversation).count() == 2
    assert (
        conversation_get(actor=agent, public_id=conversation.public_id).preview == "customer words"
    )
