"""Catalog over HTTP: admins build the catalog, customers register their units."""

import pytest

from pocketdesk.catalog.models import Product, ProductUnit, UnitRegistration

GTIN_13 = "4006381333931"


def _error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"code", "detail"}
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def admin_api(admin_user, api_as):
    return api_as(admin_user)


@pytest.fixture
def kettle(admin_api):
    response = admin_api.post("/catalog/products", {"gtin": GTIN_13, "name": "Kettle"})
    assert response.status_code == 201, response.content
    unit = admin_api.post(f"/catalog/products/{GTIN_13}/units", {"serial": "K-1", "lot": "L1"})
    assert unit.status_code == 201, unit.content
    return response.json()


def test_admin_creates_a_product_stored_as_gtin_14(kettle, admin_api):
    assert kettle["gtin"] == "04006381333931"
    assert kettle["id"].startswith("prd_")
    # found by public id, and by the GTIN in any length
    for key in (kettle["id"], GTIN_13, "04006381333931"):
        assert admin_api.get(f"/catalog/products/{key}").json() == kettle


def test_a_wrong_check_digit_is_a_422_invalid_gtin(admin_api):
    response = admin_api.post("/catalog/products", {"gtin": "4006381333932", "name": "Kettle"})
    body = _error(response, 422, "invalid_gtin")
    assert body["errors"][0]["field"] == "gtin"
    assert not Product.objects.exists()


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_only_admins_create_products_and_units(kettle, make_user, api_as, role):
    api = api_as(make_user(role))
    _error(api.post("/catalog/products", {"gtin": "96385074", "name": "Nope"}), 403, "forbidden")
    _error(api.post(f"/catalog/products/{GTIN_13}/units", {"serial": "K-9"}), 403, "forbidden")
    assert Product.objects.count() == 1
    assert ProductUnit.objects.count() == 1


def test_signed_in_users_list_products(kettle, make_customer, api_as):
    body = api_as(make_customer().user).get("/catalog/products", {"q": "kett"}).json()
    assert [p["id"] for p in body["results"]] == [kettle["id"]]


def test_units_are_created_under_a_product_and_read_by_staff(kettle, admin_api, agent, api_as):
    unit = admin_api.post(f"/catalog/products/{kettle['id']}/units", {"serial": "K-2"}).json()
    assert unit["id"].startswith("unt_")
    assert (unit["gtin"], unit["product"], unit["serial"], unit["lot"]) == (
        "04006381333931",
        kettle["id"],
        "K-2",
        None,
    )
    assert api_as(agent).get(f"/catalog/units/{unit['id']}").json() == unit
    duplicate = admin_api.post(f"/catalog/products/{kettle['id']}/units", {"serial": "K-2"})
    _error(duplicate, 409, "serial_taken")
    _error(admin_api.post("/catalog/products/96385074/units", {"serial": "X"}), 404, "not_found")


def test_a_customer_registers_a_unit_and_sees_it(kettle, make_customer, agent, api_as):
    # given
    customer = make_customer()
    api = api_as(customer.user)
    # when
    response = api.post(
        "/me/registrations", {"gtin": GTIN_13, "serial": "K-1", "purchased_on": "2025-12-24"}
    )
    # then
    assert response.status_code == 201, response.content
    registration = response.json()
    assert registration["id"].startswith("reg_")
    assert registration["product_name"] == "Kettle"
    assert registration["purchased_on"] == "2025-12-24"
    assert registration["unit"]["lot"] == "L1"
    assert api.get("/me/registrations").json() == [registration]
    # and it is on the customer's timeline
    timeline = api_as(agent).get(f"/customers/{customer.public_id}/timeline").json()["results"]
    entry = next(e for e in timeline if e["kind"] == "unit.registered")
    assert entry["data"]["registration"] == registration["id"]


def test_registering_again_returns_the_same_registration(kettle, make_customer, api_as):
    api = api_as(make_customer().user)
    first = api.post("/me/registrations", {"gtin": GTIN_13, "serial": "K-1"})
    again = api.post("/me/registrations", {"gtin": "04006381333931", "serial": "K-1"})
    assert again.status_code in {200, 201}
    assert again.json()["id"] == first.json()["id"]
    assert UnitRegistration.objects.count() == 1


def test_someone_elses_unit_is_a_409(kettle, make_customer, api_as):
    api_as(make_customer().user).post("/me/registrations", {"gtin": GTIN_13, "serial": "K-1"})
    other = api_as(make_customer(name="Other").user)
    _error(
        other.post("/me/registrations", {"gtin": GTIN_13, "serial": "K-1"}), 409, "unit_registered"
    )
    assert other.get("/me/registrations").json() == []


def test_an_unknown_unit_is_a_404(kettle, make_customer, api_as):
    api = api_as(make_customer().user)
    _error(api.post("/me/registrations", {"gtin": GTIN_13, "serial": "K-404"}), 404, "not_found")
    _error(
        api.post("/me/registrations", {"gtin": "4006381333932", "serial": "K-1"}),
        422,
        "invalid_gtin",
    )


def test_registrations_are_private(kettle, make_customer, api_as):
    owner = make_customer()
    api_as(owner.user).post("/me/registrations", {"gtin": GTIN_13, "serial": "K-1"})
    assert api_as(make_customer(name="Nosy").user).get("/me/registrations").json() == []
