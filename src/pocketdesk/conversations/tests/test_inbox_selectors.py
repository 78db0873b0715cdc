"""Inbox reads: staff only, views and filters, keyset pages that neither skip nor repeat rows
(even with equal times), and a fixed number of queries however long the list or the thread."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pocketdesk.conversations import selectors
from pocketdesk.conversations.services import inbox
from pocketdesk.conversations.tests.factories import customer_says, sms_channel
from pocketdesk.core.errors import NotFound, PermissionDenied, ValidationFailed

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def channel(db):
    return sms_channel()


def _customer(make_customer, i, name=None):
    return make_customer(name=name or f"Customer {i}", phone=f"+44 7911 12{i:04d}")


def test_only_staff_read_conversations(make_user, make_customer, channel):
    customer = _customer(make_customer, 1)
    conversation = customer_says(customer, "hello", channel=channel).conversation
    for outsider in (customer.user, make_user("employee"), make_user("partner")):
        with pytest.raises(PermissionDenied):
            selectors.conversation_list(actor=outsider)
        with pytest.raises(NotFound):
            selectors.conversation_get(actor=outsider, public_id=conversation.public_id)
    assert selectors.conversation_get(actor=make_user("agent"), public_id=conversation.public_id)


def test_views_and_filters(make_user, make_customer, channel):
    agent, other = make_user("agent"), make_user("agent")
    mine = customer_says(_customer(make_customer, 1, "Noor Haddad"), "a", channel=channel)
    theirs = customer_says(_customer(make_customer, 2, "Ola Berg"), "b", channel=channel)
    nobody = customer_says(_customer(make_customer, 3, "Ivo Petrov"), "c", channel=channel)
    inbox.conversation_assign(actor=agent, conversation=mine.conversation, assignee=agent)
    inbox.conversation_assign(actor=agent, conversation=theirs.conversation, assignee=other)
    inbox.conversation_status_set(actor=agent, conversation=theirs.conversation, status="pending")
    inbox.conversation_label_add(actor=agent, conversation=nobody.conversation, name="VIP")

    def ids(**filters):
        page = selectors.conversation_list(actor=agent, **filters)
        return {c.public_id for c in page.items}

    a, b, c = (m.conversation.public_id for m in (mine, theirs, nobody))
    assert ids(view="mine") == {a}
    assert ids(view="unassigned") == {c}
    assert ids(view="all") == {a, b, c}
    assert ids(status="pending") == {b}
    assert ids(label="vip") == {c}
    assert ids(channel="twilio_sms") == {a, b, c}
    assert ids(channel="whatsapp") == set()
    assert ids(q="haddad") == {a}
    assert ids(q="7911120002") == {b}  # part of the phone number
    assert ids(q=c) == {c}
    for bad in ({"view": "everything"}, {"status": "closed"}, {"channel": "pigeon"}):
        with pytest.raises(ValidationFailed):
            selectors.conversation_list(actor=agent, **bad)


def test_keyset_pages_neither_skip_nor_repeat(make_user, make_customer, channel):
    # given seven conversations, three of them last active at the very same instant
    agent = make_user("agent")
    times = [T0, T0, T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    times += [T0 - timedelta(minutes=1), T0 + timedelta(minutes=3)]
    for i, at in enumerate(times):
        customer_says(_customer(make_customer, i), f"m{i}", channel=channel, at=at)

    # when the inbox is read three at a time
    pages = [selectors.conversation_list(actor=agent, page_size=3)]
    while pages[-1].next is not None:
        pages.append(selectors.conversation_list(actor=agent, cursor=pages[-1].next, page_size=3))
    seen = [c for page in pages for c in page.items]

    # then every conversation comes once, newest first, ties by id
    expected = sorted(seen, key=lambda c: (c.last_message_at, c.pk), reverse=True)
    assert [c.pk for c in seen] == [c.pk for c in expected]
    assert (len({c.pk for c in seen}), len(pages)) == (7, 3)
    # and "previous" from the second page is the first page again
    back = selectors.conversation_list(actor=agent, cursor=pages[1].previous, page_size=3)
    assert [c.pk for c in back.items] == [c.pk for c in pages[0].items]
    assert pages[0].previous is None
    with pytest.raises(ValidationFailed) as bad:
        selectors.conversation_list(actor=agent, cursor="not-a-cursor")
    assert bad.value.code == "bad_cursor"


def test_message_pages_newest_first_page_oldest_to_newest(make_user, make_customer, channel):
    agent = make_user("agent")
    customer = _customer(make_customer, 1)
    for i in range(7):
        customer_says(customer, f"m{i}", channel=channel, at=T0 + timedelta(minutes=i))
    conversation = customer.conversations.get()
    page = selectors.message_list(actor=agent, conversation=conversation, page_size=3)
    assert [m.text for m in page.items] == ["m4", "m5", "m6"]
    assert page.next is None
    older = selectors.message_list(
        actor=agent, conversation=conversation, cursor=page.previous, page_size=3
    )
    assert [m.text for m in older.items] == ["m1", "m2", "m3"]
    oldest = selectors.message_list(
        actor=agent, conversation=conversation, cursor=older.previous, page_size=3
    )
    assert ([m.text for m in oldest.items], oldest.previous) == (["m0"], None)
    newer = selectors.message_list(
        actor=agent, conversation=conversation, cursor=oldest.next, page_size=3
    )
    assert [m.text for m in newer.items] == ["m1", "m2", "m3"]


def _read_inbox(agent):
    page = selectors.conversation_list(actor=agent, view="mine", page_size=50)
    for c in page.items:  # everything a row shows
        shown = [c.customer.name, c.last_channel.kind, c.assignee.name, c.preview]
        shown += [label.name for label in c.labels.all()]
    return page


def _inbox_of(make_user, make_customer, channel, n, first=0):
    agent = make_user("agent")
    for i in range(first, first + n):
        conversation = customer_says(
            _customer(make_customer, i), "hi", channel=channel
        ).conversation
        inbox.conversation_assign(actor=agent, conversation=conversation, assignee=agent)
        inbox.conversation_label_add(actor=agent, conversation=conversation, name=f"l{i % 3}")
    return agent


def test_inbox_query_count_does_not_grow_with_conversations(make_user, make_customer, channel):
    one = _inbox_of(make_user, make_customer, channel, 1)
    with CaptureQueriesContext(connection) as few:
        assert len(_read_inbox(one).items) == 1
    many = _inbox_of(make_user, make_customer, channel, 30, first=1)
    with CaptureQueriesContext(connection) as lots:
        assert len(_read_inbox(many).items) == 30
    # the page's ids (from the keyset index), its rows with their joins, their labels
    assert len(few) == len(lots) <= 3


def test_thread_query_count_does_not_grow_with_history(make_user, make_customer, channel):
    agent = make_user("agent")
    short = customer_says(_customer(make_customer, 1), "only", channel=channel).conversation
    long_customer = _customer(make_customer, 2)
    for i in range(200):
        customer_says(long_customer, f"m{i}", channel=channel, at=T0 + timedelta(seconds=i))
    long = long_customer.conversations.get()

    def read(conversation):
        page = selectors.message_list(actor=agent, conversation=conversation)
        for m in page.items:
            assert m.channel.kind == "twilio_sms"
            assert (m.author, m.outbound) == (None, None)
        return page

    with CaptureQueriesContext(connection) as few:
        assert len(read(short).items) == 1
    with CaptureQueriesContext(connection) as lots:
        assert len(read(long).items) == 50
    assert len(few) == len(lots) == 1


def test_unread_badges_stop_counting_at_the_cap(make_user, make_customer, channel, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    agent = make_user("agent")
    assert selectors.inbox_counts(actor=agent) == {"mine": "", "unassigned": "", "all": ""}
    for i in range(2):
        customer_says(_customer(make_customer, i), "hello", channel=channel)
    assert selectors.inbox_counts(actor=agent) == {"mine": "", "unassigned": "2", "all": "2"}
    for i in range(2, 5):
        customer_says(_customer(make_customer, i), "hello", channel=channel)
    assert selectors.inbox_counts(actor=agent) == {"mine": "", "unassigned": "2+", "all": "2+"}
