"""Inputs a fuzzer finds and PostgreSQL or DRF refuse: each answers in the API's error shape,
never a 500 (issue 19)."""

from __future__ import annotations

import pytest

from tests.api.test_requests import _draft

pytestmark = pytest.mark.django_db


def _error(answer, status: int) -> dict:
    assert answer.status_code == status, answer.content[:500]
    assert answer["Content-Type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["status"] == status
    return error


def test_a_nul_character_in_a_field_is_a_field_error(api, token_for, reviewed_vendor, engineer):
    data = {**_draft(reviewed_vendor), "justification": "Runs\x00 our deployments."}
    error = _error(api(token_for(engineer)).post("/api/v1/requests/", data), 400)
    assert set(error["fields"]) == {"justification"}


def test_a_nul_character_in_a_list_item_is_a_field_error(api, token_for, reviewed_vendor, engineer):
    data = {**_draft(reviewed_vendor), "domains": ["pay\x00ments"]}
    error = _error(api(token_for(engineer)).post("/api/v1/requests/", data), 400)
    assert "domains" in error["fields"]


@pytest.mark.parametrize("param", ["status", "vendor", "cursor"])
def test_a_nul_character_in_a_query_parameter_is_refused(api, token_for, security, param):
    answer = api(token_for(security, "read")).get("/api/v1/requests/", {param: "a\x00b"})
    assert answer.status_code in (400, 404), answer.content[:500]
    _error(answer, answer.status_code)


def test_a_page_size_that_is_not_a_number_is_the_default_page(api, token_for, security):
    answer = api(token_for(security, "read")).get("/api/v1/requests/", {"page_size": "a\x00b"})
    assert answer.status_code == 200
    assert answer.json()["results"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/requests/{n}/",
        "/api/v1/vendors/{n}/",
        "/api/v1/tokens/{n}/",
        "/api/v1/reviews/{n}/",
        "/api/v1/approvals/{n}/",
        "/api/v1/accounts/{n}/",
        "/api/v1/audit-events/{n}/",
        "/api/v1/pull-requests/{n}/",
        "/api/v1/findings/{n}/",
        "/api/v1/keys/{n}/",
    ],
)
def test_an_id_beyond_a_bigint_is_not_found(api, token_for, security, path):
    answer = api(token_for(security, "read")).get(path.format(n=2**64))
    _error(answer, 404)


def test_an_undeclared_method_is_405_in_the_error_shape(api, token_for, security):
    error = _error(api(token_for(security)).delete("/api/v1/me/"), 405)
    assert error["code"] == "method_not_allowed"


def test_a_body_that_is_not_json_is_415_in_the_error_shape(
    api, token_for, engineer, reviewed_vendor
):
    answer = api(token_for(engineer)).post(
        "/api/v1/requests/", "vendor=1", content_type="application/x-www-form-urlencoded"
    )
    _error(answer, 415)


def test_a_malformed_json_body_is_400(api, token_for, engineer):
    answer = api(token_for(engineer)).post(
        "/api/v1/requests/", "{nope", content_type="application/json"
    )
    _error(answer, 400)


def test_an_accept_the_api_cannot_answer_is_406_in_the_error_shape(api, token_for, security):
    answer = api(token_for(security, "read")).get("/api/v1/me/", HTTP_ACCEPT="text/csv")
    assert answer.status_code == 406
    assert answer.json()["error"]["status"] == 406


def test_the_audit_log_lists_its_pages_with_a_next_link(api, token_for, security, engineer):
    token = token_for(security, "read")
    for _ in range(3):
        api(token_for(engineer)).get("/api/v1/me/")  # each call leaves an audit row
    answer = api(token).get("/api/v1/audit-events/", {"page_size": 2})
    assert answer.status_code == 200, answer.content[:500]
    body = answer.json()
    assert len(body["results"]) == 2
    assert body["results"][0]["sequence"] > body["results"][1]["sequence"]
    following = api(token).get(body["next"])
    assert following.status_code == 200
    assert following.json()["results"][0]["sequence"] < body["results"][1]["sequence"]


@pytest.mark.parametrize("path", ["/api/v1/requests/1.5/", "/api/v1/nothing/", "/api/v1/x/y/"])
def test_a_path_no_route_matches_is_a_json_404(api, token_for, security, path):
    error = _error(api(token_for(security, "read")).get(path), 404)
    assert error["code"] == "not_found"
