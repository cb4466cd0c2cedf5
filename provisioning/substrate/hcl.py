"""Safe HCL rendering: string escaping and a small `terraform fmt`-clean block renderer.

Every string that reaches generated Terraform goes through `quote`, which escapes quotes,
backslashes, the template sequences `${` and `%{`, and writes every control or non-ASCII
character as a `\\uXXXX` / `\\UXXXXXXXX` escape, so the file is plain printable ASCII whatever
the input. Expressions that are *meant* to be code (references, function calls) are built from
validated identifiers only, through `ref` and friends, never from free text.

The renderer reproduces what `terraform fmt` (hclwrite) does to the simple shapes we emit:
two-space indentation and `=` aligned across consecutive single-line attributes, a run being
broken by blank lines, nested blocks and multi-line values. Tests check the output with
Terraform's own `fmt -check`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*", re.ASCII)
# A traversal such as data.aws_iam_policy_document.x-trust[0].json: identifiers, dots and
# literal numeric indexes only.
TRAVERSAL = re.compile(
    r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\])+", re.ASCII
)

_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """Renders `value` as an HCL quoted string literal that evaluates to exactly `value`.

    Raises ValueError for text that is not in Unicode NFC (Terraform would normalize it, so
    it could not round-trip) or that holds unpaired surrogates (not encodable as UTF-8).
    """
    if not isinstance(value, str):
        raise TypeError("quote() takes a str")
    if not unicodedata.is_normalized("NFC", value):
        raise ValueError("HCL strings must be in Unicode NFC; normalize before rendering")
    out = ['"']
    last = len(value) - 1
    for index, char in enumerate(value):
        code = ord(char)
        if char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif char in "$%" and index < last and value[index + 1] == "{":
            # `$${` and `%%{` are HCL's escapes for a literal `${` / `%{`.
            out.append(char * 2)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("unpaired surrogate in string")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def identifier(name: str) -> str:
    """Returns `name` if it is a valid Terraform identifier (block label, local name)."""
    if not IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a Terraform identifier")
    return name


def ref(traversal: str) -> str:
    """Returns `traversal` (e.g. ``aws_iam_role.x.name``) after checking it is only a reference."""
    if not TRAVERSAL.fullmatch(traversal):
        raise ValueError(f"{traversal!r} is not a plain reference")
    return traversal


def string_list(values: Iterable[str]) -> str:
    """An HCL tuple of quoted strings on one line."""
    return "[" + ", ".join(quote(value) for value in values) + "]"


def expr_list(values: Iterable[str]) -> str:
    """An HCL tuple of already-rendered expressions on one line."""
    return "[" + ", ".join(values) + "]"


@dataclass(frozen=True)
class Attr:
    """`name = value`; `value` is a rendered single-line expression or an `Obj`."""

    name: str
    value: str | Obj


@dataclass(frozen=True)
class Obj:
    """A multi-line object value: `{ key = value ... }` with one item per line."""

    items: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Blank:
    """An empty line inside a block body (it also ends an alignment run, as in fmt)."""


@dataclass(frozen=True)
class Block:
    """`type "label" ... { body }`."""

    type: str
    labels: Sequence[str] = ()
    body: Sequence[Attr | Block | Blank] = field(default_factory=tuple)


def _align(lines: list[tuple[str, str]], indent: str) -> list[str]:
    width = max(len(key) for key, _ in lines)
    return [f"{indent}{key.ljust(width)} = {value}" for key, value in lines]


def _render_body(body: Sequence[Attr | Block | Blank], depth: int) -> list[str]:
    indent = "  " * depth
    out: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        if run:
            out.extend(_align(run, indent))
            run.clear()

    for item in body:
        if isinstance(item, Attr) and isinstance(item.value, str):
            if "\n" in item.value:
                raise ValueError("single-line attribute values cannot contain newlines")
            run.append((identifier(item.name), item.value))
            continue
        flush()
        if isinstance(item, Attr):
            # A multi-line value stands alone: fmt does not align it with its neighbours.
            items = item.value.items if isinstance(item.value, Obj) else ()
            out.append(f"{indent}{identifier(item.name)} = {{")
            if items:
                out.extend(_align([(identifier(k), v) for k, v in items], indent + "  "))
            out.append(f"{indent}}}")
        elif isinstance(item, Blank):
            out.append("")
        else:
            out.extend(_render_block(item, depth))
    flush()
    return out


def _render_block(block: Block, depth: int) -> list[str]:
    indent = "  " * depth
    head = " ".join([identifier(block.type), *(quote(label) for label in block.labels)])
    return [f"{indent}{head} {{", *_render_body(block.body, depth + 1), f"{indent}}}"]


def render_file(header: Sequence[str], blocks: Sequence[Block]) -> str:
    """A whole `.tf` file: comment header lines, then the blocks separated by blank lines.

    Header lines are written verbatim after `# `, so callers pass only validated text.
    """
    lines: list[str] = []
    for text in header:
        if "\n" in text or "\r" in text:
            raise ValueError("comment lines cannot contain line breaks")
        lines.append(f"# {text}".rstrip())
    for block in blocks:
        if lines:
            lines.append("")
        lines.extend(_render_block(block, 0))
    return "\n".join(lines) + "\n"
