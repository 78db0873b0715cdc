"""Web push in Chromium: push.js turns notifications on for the signed-in customer (the server
stores the subscription), a reply is pushed through the outbox to the fake push service, and
sw-push.js shows what the phone decrypted.

A browser's vendor push service (FCM for Chromium) cannot be reached from here, so the page's
PushManager hands out a subscription on the fake push service instead: everything after
`pushManager.subscribe()` is the real code path."""

import json
from typing import Any

import pytest

from pocketdesk.customers.models import ContactPoint
from pocketdesk.messaging import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Secret-123"

# Stands in for the vendor's push service: subscribe() returns the fake's subscription.
PUSH_MANAGER = """
(() => {
  const made = %s;
  let current = null;
  const subscription = () => ({
    endpoint: made.endpoint,
    options: { applicationServerKey: null },
    toJSON: () => made,
    unsubscribe: async () => { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function () { current = subscription(); return current; };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""

CONTROL = """
() => {
  const button = document.createElement("button");
  button.type = "button";
  button.hidden = true;
  button.dataset.pushToggle = "";
  button.dataset.labelOn = "Turn on notifications";
  button.dataset.labelOff = "Turn off notifications";
  document.body.append(button);
  const script = document.createElement("script");
  script.src = "/static/web/push.js";
  document.body.append(script);
}
"""


def _login(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


@pytest.fixture
def fake():
    from pocketdesk.messaging.fake_providers import FakeProviders

    with FakeProviders() as running:
        yield running


def test_turn_on_notifications_then_see_a_reply(chromium, live_server, make_customer, fake):
    customer = make_customer(name="Ada Lovelace")
    channel = services.channel_create(
        actor=None, kind="webpush", name="Push", address="", credentials={}
    )
    browser = fake.push_subscribe()
    base = live_server.url
    context = chromium.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    context.grant_permissions(["notifications"], origin=base)
    context.add_init_script(PUSH_MANAGER % json.dumps(browser.as_json()))
    page = context.new_page()
    _login(page, base, customer.user.email)

    # when the customer presses "Turn on notifications"
    page.evaluate(CONTROL)
    button = page.locator("[data-push-toggle]")
    button.wait_for(state="visible")
    assert button.inner_text() == "Turn on notifications"
    button.click()
    page.wait_for_selector("[data-push-toggle][aria-pressed=true][aria-busy=false]")

    # then the server keeps this browser's subscription
    assert button.inner_text() == "Turn off notifications"
    point = ContactPoint.objects.get(customer=customer, kind="webpush")
    assert point.value == browser.endpoint
    assert (point.data["p256dh"], point.data["auth"]) == (browser.p256dh, browser.auth)
    assert "Chrome" in point.data["user_agent"]

    # when a reply is pushed, the phone decrypts it and the service worker shows it
    outbound = services.outbound_queue(
        channel=channel, recipient=point.value, text="Your parcel is here.", contact_point=point
    )
    services.outbound_attempt(outbound_id=outbound.pk)
    (payload,) = fake.push.shown()
    shown = _show_in_service_worker(context, page, base, payload)
    assert shown == {
        "title": "pocketdesk",
        "body": "Your parcel is here.",
        "tag": outbound.public_id,
        "url": f"{base}/app/conversations/",
    }

    # when they turn notifications off, the server forgets the subscription
    button.click()
    page.wait_for_selector("[data-push-toggle][aria-pressed=false][aria-busy=false]")
    assert not ContactPoint.objects.filter(pk=point.pk).exists()
    context.close()


def _show_in_service_worker(context: Any, page: Any, base: str, payload: Any) -> Any:
    """Deliver the push through DevTools to the app's own service worker (sw.js, which pulls in
    sw-push.js), as the browser does when its push service wakes it, and read back the
    notification it showed."""
    cdp = context.new_cdp_session(page)
    registrations: dict[str, str] = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.update(
            {r["scopeURL"]: r["registrationId"] for r in event["registrations"]}
        ),
    )
    cdp.send("ServiceWorker.enable")
    scope = f"{base}/"
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    for _ in range(100):
        if scope in registrations:
            break
        page.wait_for_timeout(50)
    # Deliver again (same tag: it replaces, never adds) if a push is missed, within 15 s.
    for _attempt in range(3):
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": base, "registrationId": registrations[scope], "data": json.dumps(payload)},
        )
        shown = _shown(page)
        if shown is not None:
            return shown
    return None


def _shown(page: Any) -> Any:
    return page.evaluate(
        """async () => {
            const registration = await navigator.serviceWorker.ready;
            for (let i = 0; i < 100; i++) {
              const [shown] = await registration.getNotifications();
              if (shown) {
                const { title, body, tag } = shown;
                return { title, body, tag, url: shown.data.url };
              }
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
            return null;
        }"""
    )
