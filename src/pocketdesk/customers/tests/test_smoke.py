def test_customer_reads_own_profile(make_customer, api_as):
    # given
    customer = make_customer(phone="+44 20 7946 0958")
    api = api_as(customer.user)
    # when
    response = api.get("/me")
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == customer.public_id
    assert {p["value"] for p in body["contact_points"]} == {"+442079460958", customer.user.email}
