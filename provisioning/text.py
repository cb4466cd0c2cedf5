"""Characters no name may carry out of the portal: bidirectional controls and line breaks.

A vendor name is typed by a requester and shown to others in commit subjects, pull request
titles and bodies, branch names and e-mail subjects. Bidirectional overrides and isolates
reorder what a reader sees around them ("Trojan Source", CVE-2021-42574): a title can read as
another vendor's, or hide a part of itself. Line breaks and other control characters split a
subject into a second header, a commit message into a body, a Markdown line into a block.

The portal refuses them where a name comes in (`unsafe_characters`, used by the vendor form
and services) and removes them wherever a name leaves (`one_line`), so that a name stored
before the refusal existed, or taken from elsewhere, is still harmless. Pure Python, for
Django code and the pure `provisioning` modules alike.
"""

from __future__ import annotations

import re
import unicodedata

# U+061C ARABIC LETTER MARK, U+200E/F LEFT-TO-RIGHT / RIGHT-TO-LEFT MARK, U+202A-U+202E the
# embeddings and overrides, U+2066-U+2069 the isolates.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# C0 controls (tab, LF, CR, VT, FF, the file/group/record/unit separators Python's
# str.splitlines() breaks on too), DEL, C1 controls (U+0085 NEXT LINE among them), and the
# Unicode LINE and PARAGRAPH SEPARATORS.
LINE_BREAKS_AND_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029"

_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
_BREAKS = re.compile(f"[{LINE_BREAKS_AND_CONTROLS}]+")
_UNSAFE = re.compile(f"[{BIDI_CONTROLS}{LINE_BREAKS_AND_CONTROLS}]")
_SPACES = re.compile(r" {2,}")
# Unicode gives control characters no name; these are the ones a person may have typed.
_CONTROL_NAMES = {"\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x85": "NEXT LINE"}


def unsafe_characters(text: str) -> list[str]:
    """The bidirectional and line-breaking characters in `text`, each once, as `U+XXXX NAME`
    (for an error message that says what to remove; the characters themselves are invisible)."""
    found: list[str] = []
    for char in _UNSAFE.findall(text):
        name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "CONTROL CHARACTER")
        label = f"U+{ord(char):04X} {name}"
        if label not in found:
            found.append(label)
    return found


def one_line(text: object) -> str:
    """`text` safe to show on one line anywhere: bidirectional controls removed, each run of
    line breaks and control characters replaced by one space, in NFC, trimmed."""
    value = unicodedata.normalize("NFC", str(text))
    value = _BIDI.sub("", value)
    value = _BREAKS.sub(" ", value)
    return _SPACES.sub(" ", value).strip()
