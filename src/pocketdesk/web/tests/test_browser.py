"""Real-browser journeys: Playwright driving Debian's Chromium against the live test server."""

from typing import Any

import pytest

from pocketdesk.customers.models import SendWindow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Secret-123"
FIRST_LOAD_BUDGET = 60 * 1024


def _login(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def test_customer_sets_french_and_quiet_hours_agent_sees_it(
    chromium, live_server, make_customer, agent
):
    # given a customer with a US phone number, and an agent
    customer = make_customer(
        name="Camille Martin", phone="+14155552671", language="en", time_zone="America/Los_Angeles"
    )
    base = live_server.url

    # when the customer, on a 360×740 phone, signs in
    phone = chromium.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    transferred: list[int] = []

    def count(request: Any) -> None:
        sizes = request.sizes()
        transferred.append(sizes["responseBodySize"] + sizes["responseHeadersSize"])

    page.on("requestfinished", count)
    page.goto(f"{base}/login/", wait_until="networkidle")
    # then the very first page load (an empty cache) stays within the mobile budget
    assert 0 < sum(transferred) <= FIRST_LOAD_BUDGET, sum(transferred)

    transferred.clear()
    page.fill("#id_username", customer.user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Hello, Camille Martin"
    assert 0 < sum(transferred) <= FIRST_LOAD_BUDGET, sum(transferred)

    # when they switch to French and set quiet hours 22:00–07:00
    page.click("text=Settings")
    page.select_option("#id_language", "fr")
    page.fill("#id_quiet_from", "22:00")
    page.fill("#id_quiet_until", "07:00")
    page.click("button[type=submit].primary")

    # then the page is in French
    page.wait_for_selector("h1:has-text('Paramètres')")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("label[for=id_quiet_from]").inner_text() == "De"
    page.click("text=Accueil")
    assert page.locator("h1").inner_text() == "Bonjour, Camille Martin"
    assert "22:00–07:00" in page.locator("#section-preferences").inner_text()
    phone.close()
    assert SendWindow.objects.filter(customer=customer).count() == 7

    # when an agent searches by the phone typed another way
    desk = chromium.new_context(viewport={"width": 1280, "height": 800})
    console = desk.new_page()
    _login(console, base, agent.email)
    console.wait_for_url(f"{base}/console/")
    console.fill("input[name=q]", "(415) 555-2671")
    console.wait_for_selector("#search-results a:has-text('Camille Martin')")
    console.click("#search-results a:has-text('Camille Martin')")

    # then the 360 page shows the customer's new language and send windows
    console.wait_for_selector("#preferences")
    assert console.locator("[data-field=language]").inner_text() == "fr"
    windows = console.locator("[data-field=send_windows]").inner_text()
    assert "07:00–22:00" in windows
    assert "Preferences changed" in console.locator("#timeline").inner_text()
    desk.close()
