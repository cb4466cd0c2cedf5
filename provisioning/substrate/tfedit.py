"""Structural, reversible edits of hand-editable Terraform files.

Two edits exist, both for the IAM-user strategy (SUBSTRATE.md section 5, S5 steps 3 and 4):

* `aws.admin = aws.admin` in the `providers` map of `module "<domain>"` in a root `main.tf`;
* `aws.admin` in `configuration_aliases` of `modules/<domain>/global/versions.tf`.

Each insertion is preceded by a marker comment, so the portal can later tell its own entry
from one a human added (which it never removes), and removing marker plus entry gives back the
original bytes. Positions are chosen so that `terraform fmt` output stays fmt-clean without
touching neighbouring lines: a comment line ends hclwrite's `=` alignment run, so the entry is
appended last in the map, on its own run (checked with Terraform 1.15's fmt).

Files are searched on a *masked* copy of the text in which comments, string contents and
heredoc bodies are blanked out, so a `module "x" {` inside a comment or string is never taken
for the real thing. Shapes we cannot edit safely raise `LayoutError` instead of guessing.
"""

from __future__ import annotations

import re

from .errors import LayoutError

PROVIDERS_MARKER = (
    "# aws.admin: added by the vendor access portal for IAM-user vendor grants; "
    "removed with the last one"
)
ALIASES_MARKER = "# aws.admin: added by the vendor access portal for IAM-user vendor grants"
ADMIN_ENTRY = "aws.admin = aws.admin"

_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\n")


def mask(text: str) -> str:
    """`text` with comments, string contents and heredoc bodies replaced by spaces.

    Newlines are kept so offsets and line structure match the original exactly.
    """
    out = list(text)
    n = len(text)
    i = 0
    # Stack of modes: "code", "string", or ("interp", depth) for ${ } inside a string.
    stack: list[object] = ["code"]

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        mode = stack[-1]
        char = text[i]
        if mode == "string":
            if char == "\\":
                blank(i, i + 2)
                i += 2
            elif char == '"':
                stack.pop()
                i += 1
            elif text.startswith(("$${", "%%{"), i):
                blank(i, i + 3)
                i += 3
            elif text.startswith(("${", "%{"), i):
                blank(i, i + 2)
                stack.append(("interp", 0))
                i += 2
            else:
                blank(i, i + 1)
                i += 1
            continue
        in_interp = isinstance(mode, tuple)
        if char == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            blank(i, end)
            i = end
        elif char == '"':
            if in_interp:
                blank(i, i + 1)
            stack.append("string")
            i += 1
        elif (heredoc := _HEREDOC.match(text, i)) is not None:
            marker = heredoc.group(2)
            body_start = heredoc.end()
            end_line = re.compile(rf"^[ \t]*{re.escape(marker)}[ \t]*$", re.MULTILINE)
            found = end_line.search(text, body_start)
            end = n if found is None else found.end()
            blank(body_start, end)
            i = end
        elif isinstance(mode, tuple):
            depth = mode[1]
            if char == "{":
                stack[-1] = ("interp", depth + 1)
            elif char == "}":
                if depth == 0:
                    stack.pop()
                else:
                    stack[-1] = ("interp", depth - 1)
            blank(i, i + 1)
            i += 1
        else:
            i += 1
    return "".join(out)


def _matching(masked: str, open_index: int) -> int:
    """Index of the bracket closing the one at `open_index` in masked text."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack = [pairs[masked[open_index]]]
    for index in range(open_index + 1, len(masked)):
        char = masked[index]
        if char in pairs:
            stack.append(pairs[char])
        elif char in "}])":
            if char != stack.pop():
                raise LayoutError("unbalanced brackets")
            if not stack:
                return index
    raise LayoutError("unbalanced brackets")


def _depth(masked: str, start: int, index: int) -> int:
    depth = 0
    for char in masked[start:index]:
        if char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
    return depth


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _indent_of(text: str, index: int) -> str:
    start = _line_start(text, index)
    line = text[start:index]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _only_space_before(text: str, index: int) -> bool:
    return text[_line_start(text, index) : index].strip(" \t") == ""


def _providers_map(text: str, masked: str, domain: str, path: str) -> tuple[int, int]:
    """(open, close) indexes of the providers map of top-level `module "<domain>"`."""
    label = re.compile(r'(?m)^module[ \t]+"' + re.escape(domain) + r'"[ \t]*\{')
    # Match the label on the original text, but only where the masked text agrees that this
    # is code (the opening brace survives masking only outside comments and strings).
    hits = [m for m in label.finditer(text) if masked[m.end() - 1] == "{"]
    if len(hits) != 1:
        raise LayoutError(f'{path}: expected exactly one module "{domain}" block')
    open_brace = hits[0].end() - 1
    if _depth(masked, 0, open_brace) != 0:
        raise LayoutError(f'{path}: module "{domain}" is not a top-level block')
    close_brace = _matching(masked, open_brace)
    attr = re.compile(r"(?m)^[ \t]*providers[ \t]*=[ \t]*\{")
    found = [
        m
        for m in attr.finditer(masked, open_brace + 1, close_brace)
        if _depth(masked, open_brace + 1, m.start()) == 0
    ]
    if len(found) != 1:
        raise LayoutError(f'{path}: module "{domain}" has no single providers map to extend')
    map_open = found[0].end() - 1
    map_close = _matching(masked, map_open)
    if "\n" not in masked[map_open:map_close] or not _only_space_before(text, map_close):
        raise LayoutError(f"{path}: the providers map is not one entry per line; edit by hand")
    return map_open, map_close


_ADMIN_KEY = re.compile(r"(?m)^[ \t]*aws\.admin[ \t]*=")


def providers_has_admin(text: str, domain: str, path: str) -> bool:
    """True if `module "<domain>"` already passes `aws.admin` (by whoever added it)."""
    masked = mask(text)
    map_open, map_close = _providers_map(text, masked, domain, path)
    return _ADMIN_KEY.search(masked, map_open, map_close) is not None


def add_providers_admin(text: str, domain: str, path: str) -> str:
    """Appends the marked `aws.admin = aws.admin` entry to the module's providers map."""
    # Masked once: a grant over 1,000 accounts edits 1,000 root modules.
    masked = mask(text)
    map_open, map_close = _providers_map(text, masked, domain, path)
    if _ADMIN_KEY.search(masked, map_open, map_close) is not None:
        return text
    indent = _indent_of(text, map_close) + "  "
    insert = f"{indent}{PROVIDERS_MARKER}\n{indent}{ADMIN_ENTRY}\n"
    at = _line_start(text, map_close)
    return text[:at] + insert + text[at:]


def remove_providers_admin(text: str, domain: str, path: str) -> str | None:
    """Removes the portal's marked entry; None if the entry is not (exactly) ours."""
    masked = mask(text)
    map_open, map_close = _providers_map(text, masked, domain, path)
    pattern = re.compile(
        r"(?m)^[ \t]*" + re.escape(PROVIDERS_MARKER) + r"\n[ \t]*" + re.escape(ADMIN_ENTRY) + r"\n"
    )
    match = pattern.search(text, map_open, map_close)
    if match is None:
        return None
    return text[: match.start()] + text[match.end() :]


def _aws_aliases(text: str, masked: str, path: str) -> tuple[int, int] | None:
    """(open, close) of `configuration_aliases = [...]` for the aws provider, if any."""
    obj = re.compile(r"(?m)^[ \t]*aws[ \t]*=[ \t]*\{")
    for match in obj.finditer(masked):
        open_brace = match.end() - 1
        close_brace = _matching(masked, open_brace)
        attr = re.compile(r"(?m)^[ \t]*configuration_aliases[ \t]*=[ \t]*\[")
        for found in attr.finditer(masked, open_brace + 1, close_brace):
            if _depth(masked, open_brace + 1, found.start()) == 0:
                list_open = found.end() - 1
                return list_open, _matching(masked, list_open)
    return None


def aliases_state(text: str, path: str) -> str:
    """How `aws.admin` stands in a module's versions.tf.

    One of "absent-list" (no configuration_aliases for aws), "present" (aws.admin listed),
    "editable" (a list we can extend without disturbing fmt), "uneditable".
    """
    masked = mask(text)
    span = _aws_aliases(text, masked, path)
    if span is None:
        return "absent-list"
    list_open, list_close = span
    if re.search(r"(?<![\w.-])aws\.admin(?![\w.-])", masked[list_open:list_close]):
        return "present"
    if _editable_aliases(text, masked, list_open, list_close):
        return "editable"
    return "uneditable"


def _editable_aliases(text: str, masked: str, list_open: int, list_close: int) -> bool:
    multi_line = "\n" in masked[list_open:list_close]
    if multi_line:
        # The template's shape: "[" ends its line, items one per line, "]" on its own line.
        return text[list_open + 1 : text.find("\n", list_open)].strip() == ""
    # One line: the marker comment goes above the attribute, which keeps fmt alignment only
    # when the attribute is the first line of its object (the previous line opens it).
    line_start = _line_start(text, list_open)
    before = text[:line_start].rstrip("\n \t")
    return before.endswith("{")


def add_alias_admin(text: str, path: str) -> str:
    """Adds the marked `aws.admin` to the aws provider's `configuration_aliases`."""
    masked = mask(text)
    span = _aws_aliases(text, masked, path)
    if span is None:
        raise LayoutError(f"{path}: no configuration_aliases for aws")
    list_open, list_close = span
    if re.search(r"(?<![\w.-])aws\.admin(?![\w.-])", masked[list_open:list_close]):
        return text
    if not _editable_aliases(text, masked, list_open, list_close):
        raise LayoutError(f"{path}: configuration_aliases has a shape we do not edit")
    if "\n" in masked[list_open:list_close]:
        first_item = text.find("\n", list_open) + 1
        item_line = text[first_item : text.find("\n", first_item)]
        indent = item_line[: len(item_line) - len(item_line.lstrip(" \t"))]
        if first_item >= list_close or item_line.strip() == "]":
            indent = _indent_of(text, list_close) + "  "
        insert = f"\n{indent}{ALIASES_MARKER}\n{indent}aws.admin,"
        return text[: list_open + 1] + insert + text[list_open + 1 :]
    attr_start = _line_start(text, list_open)
    indent = _indent_of(text, list_open)
    inner = text[list_open + 1 : list_close].strip()
    item = "aws.admin, " if inner else "aws.admin"
    edited = text[: list_open + 1] + item + text[list_open + 1 :]
    return edited[:attr_start] + f"{indent}{ALIASES_MARKER}\n" + edited[attr_start:]


def remove_alias_admin(text: str, path: str) -> str | None:
    """Removes the portal's marked alias; None if the marked entry is not found intact."""
    multi = re.compile(r"\n[ \t]*" + re.escape(ALIASES_MARKER) + r"\n[ \t]*aws\.admin,")
    match = multi.search(text)
    if match is not None:
        return text[: match.start()] + text[match.end() :]
    single = re.compile(
        r"(?m)^[ \t]*"
        + re.escape(ALIASES_MARKER)
        + r"\n([ \t]*configuration_aliases[ \t]*=[ \t]*\[)aws\.admin(, )?"
    )
    match = single.search(text)
    if match is None:
        return None
    return text[: match.start()] + match.group(1) + text[match.end() :]


def references_aws_admin(text: str) -> bool:
    """True if Terraform code (not comments or strings) in `text` refers to `aws.admin`."""
    return re.search(r"(?<![\w.-])aws\.admin(?![\w-])", mask(text)) is not None


def defines_admin_alias(text: str) -> bool:
    """True if `text` configures a provider with `alias = "admin"` (outside comments)."""
    masked = mask(text)
    for match in re.finditer(r'(?m)^[ \t]*alias[ \t]*=[ \t]*"', masked):
        if text.startswith('admin"', match.end()):
            return True
    return False
