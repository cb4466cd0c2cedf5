"""Readable data (issue 20): the filters that show policies and pull request bodies, and the
role ARNs the key page lists, named by the change-set generator."""

from __future__ import annotations

import json

import pytest

from provisioning.forges.body import md_text
from provisioning.substrate import Grant, Strategy, TargetAccount
from web.templatetags.readable import markdown, pretty_json

pytestmark = pytest.mark.pure


def test_pretty_json_indents_a_policy_in_its_own_order():
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*"}]}
    text = pretty_json(policy)
    assert json.loads(text) == policy
    assert text.startswith('{\n  "Version": "2012-10-17",\n  "Statement": [')
    assert "'" not in text  # JSON, not Python's repr


def test_markdown_renders_the_portal_s_markdown():
    html = markdown("## Grant\n\n- **Vendor:** Orbit\n\n```sh\nsubstrate setup\n```\n")
    assert "<h2>Grant</h2>" in html
    assert "<li><strong>Vendor:</strong> Orbit</li>" in html
    assert '<pre><code class="language-sh">substrate setup\n</code></pre>' in html


def test_markdown_keeps_raw_html_and_script_links_as_text():
    html = markdown(
        '<script>alert(1)</script>\n\nHi <img src=x onerror="alert(2)">\n\n'
        "[click](javascript:alert(3)) ![i](https://evil.example/x.png)"
    )
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert "&lt;img src=x" in html
    assert 'href="javascript:' not in html


def test_a_vendor_name_with_a_script_is_text_through_the_body_and_the_renderer():
    # The pull request body escapes the name (md_text); rendered, it reads as written.
    html = markdown(f"- **Vendor:** {md_text('<script>alert(1)</script> & Co')}")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


def test_markdown_shifts_headings_under_the_page_s_own():
    html = markdown("## Grant\n\n### Files\n\n###### Deep", 1)
    assert "<h3>Grant</h3>" in html
    assert "<h4>Files</h4>" in html
    assert "<h6>Deep</h6>" in html  # no h7


def test_markdown_of_nothing_is_empty():
    assert markdown(None) == ""


def test_the_grant_names_its_role_in_each_account():
    grant = Grant(
        vendor="orbit-ci",
        strategy=Strategy.IAM_USER,
        role_name="OrbitCiAccess",
        accounts=(
            TargetAccount("444455556666", "payments", "production", "alpha"),
            TargetAccount("111122223333", "payments", "staging", "alpha"),
        ),
        managed_policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
    )
    assert grant.account_role_arns == (
        "arn:aws:iam::444455556666:role/OrbitCiAccess",
        "arn:aws:iam::111122223333:role/OrbitCiAccess",
    )
