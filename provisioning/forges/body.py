"""The pull request body: the change explains itself (SUBSTRATE.md, decision 7).

Pure: plain values and a `ChangeSet` in, GitHub-flavoured Markdown out. Every user-provided
string is either backslash-escaped (all ASCII punctuation, so no HTML, link, image or
emphasis survives) or shown as a code span; @mentions are defused with a word joiner so a
vendor called "@org/security" pings nobody. Long bodies are cut line by line below GitHub's
65,536-character limit, closing any open code fence, with a note pointing at the request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from urllib.parse import quote, urlsplit

from provisioning.substrate import ChangeSet, FileAction
from provisioning.text import one_line

GITHUB_BODY_LIMIT = 65_536
_RESERVE = 1_000  # room for the truncation note, a closing fence and the footer
_FIELD_LIMIT = 300
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_WORD_JOINER = "\u2060"
_ACTIONS = {FileAction.CREATE: "create", FileAction.MODIFY: "modify", FileAction.DELETE: "delete"}


def _units(text: str) -> int:
    """Length in UTF-16 code units: what a JavaScript/Ruby-style length check is likely to count."""
    return len(text.encode("utf-16-le")) // 2


def _plain(value: object, limit: int = _FIELD_LIMIT) -> str:
    text = one_line(value)  # no line breaks, controls or bidirectional overrides
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def md_text(value: object, limit: int = _FIELD_LIMIT) -> str:
    """`value` as inert Markdown text on one line: punctuation escaped, mentions defused."""
    escaped = _ASCII_PUNCTUATION.sub(r"\\\1", _plain(value, limit))
    return escaped.replace("@", "@" + _WORD_JOINER)


def md_code(value: object, limit: int = _FIELD_LIMIT) -> str:
    """`value` as an inline code span (rendered literally), fenced past any backticks inside."""
    text = _plain(value, limit) or " "
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _safe_url(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    # Percent-encode everything that could end the link or open markup: ( ) < > space " '.
    return quote(url.strip(), safe=":/?#[]@!$&*+,;=%~-._")


def _when(value: datetime | date | str | None) -> str:
    if value is None:
        return "no expiry set"
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return str(value)


class _Writer:
    """Collects lines until the budget runs out, then counts what it had to leave out."""

    def __init__(self, limit: int) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.limit = limit - _RESERVE
        self.omitted = 0
        self.fence: str | None = None

    def add(self, line: str = "") -> None:
        cost = _units(line) + 1
        if self.omitted or self.size + cost > self.limit:
            self.omitted += 1
            return
        self.lines.append(line)
        self.size += cost

    def open_fence(self, fence: str, info: str) -> None:
        self.add(fence + info)
        if not self.omitted:
            self.fence = fence

    def close_fence(self) -> None:
        if self.fence is not None:
            self.lines.append(self.fence)
            self.fence = None
        else:
            self.omitted += 1

    def section(self, title: str, items: Sequence[str]) -> None:
        if not items:
            return
        self.add()
        self.add(f"### {title}")
        self.add()
        for item in items:
            self.add(f"- {item}")


def pull_request_body(
    *,
    vendor: str,
    strategy: str,
    accounts: Sequence[str],
    principals: Sequence[str],
    external_id_note: str,
    approvers: Sequence[str],
    expires_at: datetime | date | str | None,
    request_url: str,
    changeset: ChangeSet,
    findings: Sequence[str] = (),
    limit: int = GITHUB_BODY_LIMIT,
) -> str:
    """The Markdown body of the pull request for one grant (or its revocation).

    `accounts` are display labels ("123456789012 payments/production/alpha"), `principals`
    the trusted ARNs, `external_id_note` says how the external id is required (never the id
    itself), `findings` are lint results; the change set's warnings are listed with them.
    """
    out = _Writer(limit)
    verb = "Revoke" if changeset.revoke else "Grant"
    out.add(f"## {verb} vendor access: {md_text(vendor)}")
    out.add()
    url = _safe_url(request_url)
    link = f"[the access request]({url})" if url else f"the access request ({md_code(request_url)})"
    out.add(
        f"Opened by the vendor access portal for {link}. "
        "Review the files below; after merging, run the commands in order."
    )
    out.add()
    out.add(f"- **Vendor:** {md_text(vendor)}")
    out.add(f"- **Strategy:** {md_code(strategy)}")
    version = md_code(changeset.substrate_version or "unknown")
    out.add(f"- **Substrate:** {version} ({md_code(changeset.dialect)} dialect)")
    out.add(f"- **External ID:** {md_text(external_id_note)}")
    out.add(f"- **Expires:** {md_text(_when(expires_at))}")
    approved = ", ".join(md_text(a, 100) for a in approvers) if approvers else "_nobody recorded_"
    out.add(f"- **Approved by:** {approved}")

    out.section("Trusted principals", [md_code(p) for p in principals])
    out.section("Accounts", [md_code(a) for a in accounts])
    notes = [md_text(f, 1_000) for f in findings] + [md_text(w, 1_000) for w in changeset.warnings]
    out.section("Lint findings and warnings", notes)
    out.section(
        "Files",
        [f"{_ACTIONS[c.action]} {md_code(c.path, 500)}" for c in changeset.files],
    )
    if changeset.commands:
        out.add()
        out.add("### After merge, run in order")
        out.add()
        script = [
            f"# {_plain(c.why, 500)}\n{c.shell}" if c.why else c.shell for c in changeset.commands
        ]
        longest = max((len(run) for run in re.findall(r"`+", "\n".join(script))), default=0)
        fence = "`" * max(3, longest + 1)
        out.open_fence(fence, "sh")
        for block in script:
            for line in block.split("\n"):
                out.add(line)
        out.close_fence()

    if out.omitted:
        where = f"[the request page]({url})" if url else "the request page in the portal"
        out.lines.append("")
        out.lines.append(
            f"> **Truncated:** {out.omitted} more lines did not fit in GitHub's "
            f"{GITHUB_BODY_LIMIT:,}-character limit; {where} lists everything."
        )
    out.lines.append("")
    out.lines.append("---")
    out.lines.append(
        "_Generated by the vendor access portal. "
        "Do not push to this branch by hand: the portal rewrites it._"
    )
    return "\n".join(out.lines) + "\n"
