"""Filters that show the portal's data as people read it, not as Python writes it.

`pretty_json` prints a JSON value (a policy, a preview) as indented JSON: `pprint` would show
a Python dict, with single quotes and `True`, which nobody can paste into AWS. `markdown`
renders Markdown the portal wrote (a pull request body) with raw HTML turned off, so a vendor
string that slipped through unescaped still reaches the page as text.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    """`value` as JSON indented by two spaces, keys in their own order (a policy's `Version`
    first, as written); non-ASCII kept as is. Autoescaping then escapes it for HTML."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@cache
def _markdown() -> MarkdownIt:
    # CommonMark with HTML blocks and inline HTML off: `<script>` comes out as text. Images off
    # too: the CSP refuses other origins' images anyway, and a body has none of its own.
    return MarkdownIt("commonmark", {"html": False}).disable("image")


@register.filter(is_safe=True)
def markdown(value: Any, shift: int = 0) -> SafeString:
    """`value` (Markdown) as HTML, its headings `shift` levels down (`markdown:1` under a
    page's h2: the text's own h2 becomes an h3), so the page's outline stays in order.

    Safe to mark so: markdown-it escapes every text run and attribute it writes, and with
    `html` off it passes no markup of the input through; its link validator refuses
    javascript:, vbscript:, file: and data: targets (but data: images, which are off here).
    """
    md = _markdown()
    tokens = md.parse(str(value or ""))
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1:]) + int(shift), 6)}"
    return mark_safe(md.renderer.render(tokens, md.options, {}))  # noqa: S308  # nosec B308 B703
