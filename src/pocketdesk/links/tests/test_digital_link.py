"""GS1 Digital Link: `/01/{GTIN}[/10/{lot}][/21/{serial}]` resolved to the product, lot or unit
by link type, the linkset, the registry apps add link types to, and the problem pages."""

import json
from collections.abc import Iterator
from datetime import date

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import Client

from pocketdesk.catalog.models import ProductDocument
from pocketdesk.catalog.services import product_create, unit_create, unit_register
from pocketdesk.links import digital_link, views_public
from pocketdesk.links.digital_link import LinkTarget, link_types

GTIN_13 = "9506000134352"
GTIN_14 = "09506000134352"
GTIN_8 = "96385074"
GTIN_12 = "036000291452"
LINKSET = "application/linkset+json"


@pytest.fixture
def product(admin_user):
    return product_create(
        actor=admin_user,
        gtin=GTIN_13,
        name="Kettle <b>Pro</b>",
        brand="Acme & Sons",
        description="Boils water.",
    )


@pytest.fixture
def unit(admin_user, product):
    return unit_create(
        actor=admin_user,
        product=product,
        serial="SN1001",
        lot_code="L26/A",
        manufactured_on=date(2026, 3, 14),
    )


@pytest.fixture
def guides(product):
    def make(kind: str, language: str, title: str) -> ProductDocument:
        return ProductDocument.objects.create(
            product=product,
            kind=kind,
            language=language,
            title=title,
            url=f"https://docs.example.com/{kind}/{language}",
        )

    return {
        "en": make("setup_guide", "en", "Setting up your kettle"),
        "fr": make("setup_guide", "fr-FR", "Installer votre bouilloire"),
        "manual": make("manual", "en", "Owner's manual"),
    }


@pytest.fixture
def registry() -> Iterator[None]:
    """Link types a test registers are gone after it."""
    before = dict(link_types.types)
    yield
    link_types.types.clear()
    link_types.types.update(before)


def get(path: str, language: str = "en", **headers: str):
    return Client().get(path, HTTP_ACCEPT_LANGUAGE=language, **headers)


@pytest.mark.parametrize("typed", [GTIN_13, GTIN_14])
def test_product_page_shows_the_product_escaped(typed, product):
    response = get(f"/01/{typed}")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Kettle &lt;b&gt;Pro&lt;/b&gt;" in page
    assert "<b>Pro</b>" not in page
    assert "Acme &amp; Sons" in page
    assert GTIN_14 in page
    assert 'id="registration"' not in page  # only a unit is registered or not


@pytest.mark.parametrize(("gtin", "short"), [(GTIN_8, GTIN_8), (GTIN_12, GTIN_12)])
def test_gtin_8_and_12_resolve_like_their_gtin_14(admin_user, gtin, short):
    product_create(actor=admin_user, gtin=gtin, name=f"Item {gtin}")

    assert f"Item {gtin}" in get(f"/01/{short}").content.decode()
    assert f"Item {gtin}" in get(f"/01/{short.zfill(14)}").content.decode()


def test_lot_page_shows_the_lot_and_when_it_was_made(admin_user, product):
    lot_unit = unit_create(
        actor=admin_user,
        product=product,
        serial="SN2",
        lot_code="L27",
        manufactured_on=date(2027, 1, 2),
    )

    response = get(f"/01/{GTIN_13}/10/L27")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="lot">L27<' in page
    assert 'id="manufactured">Jan. 2, 2027<' in page
    assert lot_unit.serial not in page  # a lot page names no unit
    french = get(f"/01/{GTIN_13}/10/L27", language="fr").content.decode()
    assert 'id="manufactured">2 janvier 2027<' in french


def test_unit_page_says_whether_it_is_registered_but_not_to_whom(unit, make_customer):
    path = f"/01/{GTIN_13}/21/SN1001"
    page = get(path).content.decode()
    assert 'id="serial">SN1001<' in page
    assert 'id="lot">L26/A<' in page
    assert "Nobody has registered this unit yet." in page

    owner = make_customer(name="Grace Hopper", email="grace@owners.example")
    unit_register(actor=owner.user, customer=owner, gtin=GTIN_13, serial="SN1001")

    page = get(path).content.decode()
    assert "This unit is registered to its owner." in page
    assert "Grace" not in page
    assert "owners.example" not in page


def test_unit_with_its_lot_in_the_code_resolves_and_another_lot_is_unknown(admin_user, product):
    unit_create(actor=admin_user, product=product, serial="77", lot_code="B7")

    assert get(f"/01/{GTIN_13}/10/B7/21/77").status_code == 200
    forged = get(f"/01/{GTIN_13}/10/B8/21/77")
    assert forged.status_code == 404
    assert "We do not know this product" in forged.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/01/09506000134369",  # valid check digit, no such product
        f"/01/{GTIN_13}/10/NOLOT",
        f"/01/{GTIN_13}/21/NOSERIAL",
    ],
)
def test_unknown_product_lot_or_serial_is_a_localized_404(product, path):
    english = get(path)
    french = get(path, language="fr")

    assert english.status_code == french.status_code == 404
    assert "We do not know this product" in english.content.decode()
    assert "Nous ne connaissons pas ce produit" in french.content.decode()
    assert '<html lang="fr">' in french.content.decode()


def test_a_wrong_check_digit_is_a_clear_400_page_and_json_for_linkset_clients(product):
    page = get("/01/9506000134353")
    french = get("/01/9506000134353", language="fr")
    as_json = get("/01/9506000134353", HTTP_ACCEPT=LINKSET)

    assert page.status_code == 400
    assert "wrong check digit" in page.content.decode()
    assert "chiffre de contrôle" in french.content.decode()
    assert as_json.status_code == 400
    body = json.loads(as_json.content)
    assert body["code"] == "gtin_check_digit"
    assert "should be 2" in body["detail"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/01/12345", "invalid_gtin"),  # no GTIN has 5 digits
        ("/01/950600013435200", "invalid_gtin"),  # nor 15
        ("/01/ABCDEFGH", "invalid_gtin"),
        (f"/01/{GTIN_13}/10/" + "A" * 21, "invalid_lot"),
        (f"/01/{GTIN_13}/21/caf%C3%A9", "invalid_serial"),
    ],
)
def test_malformed_codes_are_400s_naming_the_part(product, path, code):
    response = get(path, HTTP_ACCEPT=LINKSET)

    assert response.status_code == 400
    assert json.loads(response.content)["code"] == code
    assert get(path).status_code == 400


def test_instructions_redirect_to_the_setup_guide_in_the_visitors_language(product, guides):
    path = f"/01/{GTIN_13}?linkType=gs1:instructions"

    english = get(path, language="en-GB,en;q=0.9")
    french = get(path, language="fr-CA,fr;q=0.9")
    # German is not a page language here; its second choice, French, has a guide
    german_then_french = get(path, language="de-DE,de;q=0.9,fr;q=0.5")

    assert english.status_code == 307
    assert english["Location"] == guides["en"].url
    assert french["Location"] == guides["fr"].url
    assert german_then_french["Location"] == guides["fr"].url


def test_instructions_without_a_guide_in_the_visitors_language_show_the_page(product, guides):
    response = get(f"/01/{GTIN_13}?linkType=gs1:instructions", language="de")

    assert response.status_code == 200
    assert "Setting up your kettle" in response.content.decode()  # listed, not forced


def test_the_page_lists_documents_in_the_visitors_language_first(product, guides):
    page = get(f"/01/{GTIN_13}", language="fr").content.decode()

    assert page.index("Installer votre bouilloire") < page.index("Setting up your kettle")
    assert "Owner&#x27;s manual" in page
    assert f'href="{guides["manual"].url}"' in page


def test_without_link_type_or_with_one_unknown_the_default_page_answers(unit):
    for query in ("", "?linkType=gs1:nosuchthing", "?linkType=gs1:instructions"):
        response = get(f"/01/{GTIN_13}/21/SN1001{query}")
        assert response.status_code == 200, query
        assert 'id="serial">SN1001<' in response.content.decode()
        assert response["Link"] == (
            f"<{digital_link.public_url()}/01/{GTIN_14}/21/SN1001?linkType=linkset>; "
            f'rel="linkset"; type="{LINKSET}"'
        )


def test_linkset_lists_every_link_type_for_the_item(product, guides):
    by_accept = get(f"/01/{GTIN_13}", HTTP_ACCEPT=LINKSET)
    by_query = get(f"/01/{GTIN_13}?linkType=linkset")

    assert by_accept["Content-Type"] == LINKSET
    assert json.loads(by_accept.content) == json.loads(by_query.content)
    [entry] = json.loads(by_accept.content)["linkset"]
    anchor = f"{digital_link.public_url()}/01/{GTIN_14}"
    assert entry["anchor"] == anchor
    assert entry["https://gs1.org/voc/pip"] == [
        {
            "href": f"{anchor}?linkType=gs1:pip",
            "title": "Kettle <b>Pro</b>",
            "type": "text/html",
            "hreflang": ["en", "fr"],
        }
    ]
    assert entry["https://gs1.org/voc/defaultLink"] == entry["https://gs1.org/voc/pip"]
    instructions = entry["https://gs1.org/voc/instructions"]
    assert {(link["href"], tuple(link["hreflang"])) for link in instructions} == {
        (guides["en"].url, ("en",)),
        (guides["fr"].url, ("fr-FR",)),
    }
    assert "Accept" in by_accept["Vary"]


def test_an_app_registers_a_link_type_and_it_answers_lists_and_shows(unit, registry):
    # given a recalls app registering gs1:recallStatus for units only
    def links(request, item):
        if item.unit is None:
            return []
        return [LinkTarget(href=f"https://recalls.example.com/{item.unit.serial}", title="OK")]

    def respond(request, item):
        found = links(request, item)
        return HttpResponse(status=307, headers={"Location": found[0].href}) if found else None

    digital_link.link_type_register(
        "gs1:recallStatus", title="Recall status", links=links, respond=respond
    )
    unit_path = f"/01/{GTIN_13}/21/SN1001"

    # then a scan asking for it is answered by the app
    assert get(f"{unit_path}?linkType=gs1:recallStatus")["Location"] == (
        "https://recalls.example.com/SN1001"
    )
    # a product, for which it has nothing, gets the default page
    assert get(f"/01/{GTIN_13}?linkType=gs1:recallStatus").status_code == 200
    # it is in the unit's linkset and on its page, not the product's
    [entry] = json.loads(get(unit_path, HTTP_ACCEPT=LINKSET).content)["linkset"]
    assert entry["https://gs1.org/voc/recallStatus"][0]["title"] == "OK"
    assert "?linkType=gs1%3ArecallStatus" in get(unit_path).content.decode()
    assert "gs1%3ArecallStatus" not in get(f"/01/{GTIN_13}").content.decode()


def test_the_registry_keeps_one_default_and_gs1_names(registry):
    assert link_types.default() is not None
    assert link_types.default().respond is views_public.item_page

    def nothing(request, item):
        return None

    with pytest.raises(ImproperlyConfigured):
        digital_link.link_type_register(
            "gs1:other", title="x", links=lambda r, i: [], respond=nothing, default=True
        )
    with pytest.raises(ImproperlyConfigured):
        digital_link.link_type_register(
            "not a curie", title="x", links=lambda r, i: [], respond=nothing
        )


def test_only_get_and_head(product):
    assert Client().head(f"/01/{GTIN_13}").status_code == 200
    assert Client().post(f"/01/{GTIN_13}").status_code == 405


def test_a_unit_scan_costs_three_queries(unit, guides, django_assert_num_queries):
    # the unit (with product and lot), whether it is registered, its documents
    with django_assert_num_queries(3):
        response = get(f"/01/{GTIN_13}/21/SN1001")
    assert response.status_code == 200
