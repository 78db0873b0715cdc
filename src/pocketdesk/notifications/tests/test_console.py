"""The console's notification pages with Django's test client: staff only, admins change
settings, agents broadcast, errors shown beside the field, previews with SMS segments, customer
text escaped, no inline script, and a query-count baseline for the workflows list."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from pocketdesk.customers.services import consent_set
from pocketdesk.notifications.models import AlertRule, Event, Segment, Template, Workflow
from pocketdesk.notifications.services.configuration import (
    rule_create,
    segment_create,
    workflow_create,
)

pytestmark = pytest.mark.django_db

STEPS_JSON = '[{"type": "send", "channels": ["phone", "email"], "fallback_after_minutes": 10}]'


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user):
    return _client(admin_user)


@pytest.fixture
def agent_client(agent):
    return _client(agent)


def _workflow(actor, key="delays", name="Delays"):
    return workflow_create(actor=actor, key=key, name=name, steps=[{"type": "send"}])


def _no_inline_script(html):
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"\son[a-z]+=", html)


def test_the_console_nav_links_the_notification_pages(agent_client):
    page = agent_client.get(reverse("web:console")).content.decode()
    assert f'href="{reverse("notifications:console-workflows")}"' in page


@pytest.mark.parametrize(
    "name",
    [
        "console-workflows",
        "console-rules",
        "console-templates",
        "console-segments",
        "console-broadcasts",
    ],
)
def test_pages_are_for_staff_only(make_customer, make_user, agent_client, name):
    url = reverse(f"notifications:{name}")
    assert Client().get(url).status_code == 302  # to the login page
    assert _client(make_customer().user).get(url).status_code == 403
    assert _client(make_user("partner")).get(url).status_code == 403
    page = agent_client.get(url)
    assert page.status_code == 200
    _no_inline_script(page.content.decode())
    assert 'aria-current="page"' in page.content.decode()


def test_the_workflows_list_costs_the_same_queries_for_more_workflows(
    admin_user, admin_client, django_assert_num_queries
):
    for n in range(3):
        workflow = _workflow(admin_user, key=f"w{n}")
        rule_create(actor=admin_user, name="r", event_type="flight.delayed", workflow=workflow)
    url = reverse("notifications:console-workflows")
    admin_client.get(url)  # warm the session and the content types

    # session, user, workflows with their rule counts
    with django_assert_num_queries(3):
        assert admin_client.get(url).status_code == 200
    for n in range(3, 12):
        _workflow(admin_user, key=f"w{n}")
    with django_assert_num_queries(3):
        page = admin_client.get(url).content.decode()
    assert page.count("data-workflow=") == 12


def test_admins_create_workflows_and_see_what_is_wrong(admin_client):
    url = reverse("notifications:console-workflows")
    base = {"key": "delays", "name": "Delays", "purpose": "alerts", "category": "general"}

    not_json = admin_client.post(url, {**base, "steps": "[{oops"})
    bad_step = admin_client.post(url, {**base, "steps": '[{"type": "teleport"}]'})
    marketing = admin_client.post(
        url, {**base, "steps": STEPS_JSON, "purpose": "marketing", "critical": "on"}
    )
    created = admin_client.post(url, {**base, "steps": STEPS_JSON, "is_active": "on"})

    assert not_json.status_code == 422
    assert "not valid JSON" in not_json.content.decode()
    assert bad_step.status_code == 422
    assert 'data-error="steps"' in bad_step.content.decode()
    assert "Step 1: the type is one of" in bad_step.content.decode()
    assert marketing.status_code == 422
    assert 'data-error="critical"' in marketing.content.decode()
    assert created.status_code == 302
    workflow = Workflow.objects.get()
    assert workflow.steps[0]["channels"] == ["phone", "email"]
    assert workflow.is_active


def test_a_workflow_is_edited_and_names_are_escaped(admin_user, admin_client):
    workflow = _workflow(admin_user, name="<script>alert(1)</script>")
    url = reverse("notifications:console-workflow", args=[workflow.public_id])

    page = admin_client.get(url).content.decode()
    listed = admin_client.get(reverse("notifications:console-workflows")).content.decode()
    saved = admin_client.post(
        url,
        {
            "key": "ignored",
            "name": "Urgent",
            "purpose": "alerts",
            "category": "travel",
            "critical": "on",
            "is_active": "on",
            "steps": STEPS_JSON,
        },
    )

    for html in (page, listed):
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert saved.status_code == 302
    workflow.refresh_from_db()
    assert (workflow.key, workflow.name, workflow.critical) == ("delays", "Urgent", True)


def test_agents_see_settings_but_cannot_change_them(admin_user, agent_client):
    workflow = _workflow(admin_user)
    page = agent_client.get(reverse("notifications:console-workflows")).content.decode()
    assert "New workflow" not in page
    refused = agent_client.post(
        reverse("notifications:console-workflow", args=[workflow.public_id]),
        {"name": "Mine", "purpose": "alerts", "category": "general", "steps": STEPS_JSON},
    )
    assert refused.status_code == 403
    assert Workflow.objects.get().name == "Delays"


def test_a_rule_with_a_bad_condition_shows_the_reason_beside_it(admin_user, admin_client):
    _workflow(admin_user)
    url = reverse("notifications:console-rules")
    base = {"name": "Long", "event_type": "flight.delayed", "workflow": "delays", "priority": 10}

    bad = admin_client.post(url, {**base, "condition": "payload.delay > <b>"})
    good = admin_client.post(url, {**base, "condition": "payload.delay_minutes > 120"})

    assert bad.status_code == 422
    html = bad.content.decode()
    assert 'data-error="condition"' in html
    assert "does not parse" in html
    assert "&lt;b&gt;" in html
    assert "> <b>" not in html
    assert good.status_code == 302
    assert AlertRule.objects.get().condition == "payload.delay_minutes > 120"
    listed = admin_client.get(url).content.decode()
    assert "payload.delay_minutes &gt; 120" in listed


def test_the_condition_is_checked_as_it_is_typed(agent_client):
    url = reverse("notifications:console-rule-condition")
    bad = agent_client.post(url, {"condition": "customer.<i>"}, HTTP_HX_REQUEST="true")
    good = agent_client.post(url, {"condition": "customer.language == 'fr'"})

    assert bad.status_code == 200
    assert 'data-check="error"' in bad.content.decode()
    assert "<i>" not in bad.content.decode()
    assert 'data-check="ok"' in good.content.decode()
    assert "<html" not in good.content.decode()


def test_a_rule_is_edited_and_deleted(admin_user, admin_client):
    workflow = _workflow(admin_user)
    rule = rule_create(actor=admin_user, name="All", event_type="flight.delayed", workflow=workflow)
    url = reverse("notifications:console-rule", args=[rule.public_id])
    assert 'value="All"' in admin_client.get(url).content.decode()

    saved = admin_client.post(
        url,
        {
            "name": "French",
            "event_type": "flight.delayed",
            "workflow": "delays",
            "priority": 5,
            "condition": 'customer.language == "fr"',
            "is_active": "on",
        },
    )
    assert saved.status_code == 302
    assert AlertRule.objects.get().priority == 5
    assert admin_client.post(url, {"action": "delete"}).status_code == 302
    assert not AlertRule.objects.exists()


def test_a_template_is_saved_and_previewed_live_with_sms_segments(admin_client):
    url = reverse("notifications:console-templates")
    form = {
        "event_type": "flight.delayed",
        "channel_kind": "phone",
        "language": "fr",
        "subject": "",
        "body": "Vol {{ payload.flight }} : {{ payload.note }}",
        "sample": '{"flight": "AC1", "note": "<b>gate B</b>"}',
    }
    preview = admin_client.post(
        reverse("notifications:console-template-preview"), form, HTTP_HX_REQUEST="true"
    )
    html = preview.content.decode()
    assert preview.status_code == 200
    assert 'data-preview-channel="phone"' in html
    assert "Vol AC1 : &lt;b&gt;gate B&lt;/b&gt;" in html
    assert "1 SMS segment" in html
    assert 'data-warning="segments"' not in html

    long = admin_client.post(
        reverse("notifications:console-template-preview"),
        {**form, "sample": '{"flight": "AC1", "note": "' + "very long " * 60 + '"}'},
    ).content.decode()
    assert "4 SMS segments" in long
    assert 'data-warning="segments"' in long

    saved = admin_client.post(url, form)
    assert saved.status_code == 302
    template = Template.objects.get()
    assert (template.channel_kind, template.language) == ("phone", "fr")
    page = admin_client.get(reverse("notifications:console-template", args=[template.pk]))
    assert "Vol {{ payload.flight }}" in page.content.decode()


def test_a_template_that_does_not_parse_is_shown_in_the_preview_and_refused(admin_client):
    form = {
        "event_type": "flight.delayed",
        "channel_kind": "",
        "language": "",
        "body": "{% if payload.flight %}open",
        "sample": "{}",
    }
    preview = admin_client.post(reverse("notifications:console-template-preview"), form)
    saved = admin_client.post(reverse("notifications:console-templates"), form)

    assert 'data-preview="error"' in preview.content.decode()
    assert saved.status_code == 422
    assert 'data-error="body"' in saved.content.decode()
    assert not Template.objects.exists()


def test_without_a_channel_the_preview_shows_sms_and_email(admin_client):
    form = {"event_type": "maintenance.due", "body": "Due: {{ payload.product }}", "sample": ""}
    html = admin_client.post(reverse("notifications:console-template-preview"), form).content
    assert b'data-preview-channel="phone"' in html
    assert b'data-preview-channel="email"' in html


def test_segments_show_their_member_count(admin_user, admin_client, make_customer):
    make_customer(name="Ada", language="fr")
    make_customer(name="Bob", language="en")
    url = reverse("notifications:console-segments")

    bad = admin_client.post(url, {"key": "fr", "name": "French", "filters": '{"lang": ["fr"]}'})
    created = admin_client.post(
        url, {"key": "fr", "name": "French", "filters": '{"language": ["fr"]}'}
    )

    assert bad.status_code == 422
    assert "Unknown filter" in bad.content.decode()
    assert created.status_code == 302
    segment = Segment.objects.get()
    listed = admin_client.get(url).content.decode()
    count_url = reverse("notifications:console-segment-count", args=[segment.public_id])
    assert f'hx-get="{count_url}"' in listed
    assert admin_client.get(count_url).content.decode().strip() == "<span data-count>1</span>"
    detail = admin_client.get(created["Location"]).content.decode()
    assert 'data-count="1"' in detail


def test_agents_broadcast_with_a_preview_and_see_the_status_counts(
    admin_user, agent, agent_client, make_customer
):
    customer = make_customer(name="Ada")
    consent_set(actor=None, customer=customer, purpose="alerts", granted=True, source="web")
    segment_create(actor=admin_user, key="everyone", name="Everyone", filters={})
    url = reverse("notifications:console-broadcasts")
    page = agent_client.get(url).content.decode()
    source_id = re.search(r'name="source_id" value="([^"]+)"', page).group(1)
    form = {
        "segment": "everyone",
        "title": "Hours",
        "text": "Closed <Monday>.",
        "source_id": source_id,
    }

    preview = agent_client.post(reverse("notifications:console-broadcast-preview"), form)
    first = agent_client.post(url, form)
    second = agent_client.post(url, form)  # a double click
    listed = agent_client.get(url).content.decode()

    assert 'data-preview-channel="phone"' in preview.content.decode()
    assert "Closed &lt;Monday&gt;." in preview.content.decode()
    assert "1 SMS segment" in preview.content.decode()
    assert (first.status_code, second.status_code) == (302, 302)
    event = Event.objects.get()
    assert (event.subject, event.created_by) == ("everyone", agent)
    assert f'data-event="{event.public_id}"' in listed
    assert "Closed &lt;Monday&gt;." in listed


def test_a_broadcast_without_text_is_refused_on_the_page(admin_user, agent_client):
    segment_create(actor=admin_user, key="everyone", name="Everyone", filters={})
    response = agent_client.post(
        reverse("notifications:console-broadcasts"),
        {"segment": "everyone", "text": "", "source_id": "console-x"},
    )
    assert response.status_code == 422
    assert 'data-error="text"' in response.content.decode()
    assert not Event.objects.exists()
