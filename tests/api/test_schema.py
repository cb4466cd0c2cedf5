"""The OpenAPI document and its docs page: valid OpenAPI 3, shown only to the signed in, and
rendered from the portal's own static files (the CSP allows no inline or foreign script)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


def test_the_document_is_valid_openapi_3(api, token_for, engineer):
    answer = api(token_for(engineer, "read")).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.")
    validate_schema(document)  # drf-spectacular's OpenAPI 3 JSON Schema; raises if invalid
    for operations in document["paths"].values():
        for operation in operations.values():
            assert {"400", "401", "403", "404", "405", "406", "429"} <= set(operation["responses"])


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_the_document_and_docs_need_a_signed_in_user_or_a_token(path):
    assert Client().get(path).status_code in (401, 403)


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_a_refused_token_cannot_read_them_either(api, path):
    assert api("vap_nothing_here").get(path).status_code == 401


def test_the_docs_render_from_same_origin_scripts_only(client, engineer):
    client.force_login(engineer)
    answer = client.get("/api/docs/")
    assert answer.status_code == 200
    html = answer.content.decode()
    for cdn in ("cdn", "unpkg", "jsdelivr", "://"):
        assert cdn not in html.lower(), cdn
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts
    for attributes, body in scripts:
        assert not body.strip(), "an inline script, which the CSP blocks"
        src = re.search(r'src="([^"]+)"', attributes)
        assert src, "a script with no source"
        assert src.group(1).startswith("/")
        assert not src.group(1).startswith("//")
    assert "swagger-ui" in html
    # The split view's initializer is itself a same-origin script, served to the signed in.
    init = re.findall(r'src="([^"]*\?script[^"]*)"', html)
    assert init
    assert client.get(init[0].replace("&amp;", "&")).status_code == 200
