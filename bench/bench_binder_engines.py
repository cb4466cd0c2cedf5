"""The auditor's PDF binder in several PDF engines, side by side, on the same synthetic data.

Issue 21 asks for the binder of 5,000 vendors in under a minute. Before switching engines this
measures them on one document: a cover (facts, data SHA-256, the binder's page count), the
subprocessor table (a row per vendor, eight grouped columns, a line per AWS grant) and the three
appendices, with page numbers in the footer and an outline entry per section.

The data are plain dicts of the real shape (no database), generated afresh by each engine from
the same seed, so each engine's process holds only what it keeps itself. Engines:

- weasyprint: the portal's own code path (reports.pdf: its templates, parts of
  `ROWS_PER_PART` rows, joined by pypdf), with the synthetic rows in place of the query's.
- reportlab: platypus, a table per section, footer and page count drawn per page, outline
  bookmarks from the section headings.
- typst: the `typst` package compiling a .typ document that reads the data from a JSON file.
- typst-parts: the same layout in parts of `TYPST_PART_ROWS` rows, each compiled in a process of
  its own and joined by pypdf as reports.pdf joins WeasyPrint's parts (flat memory).
- fpdf2: its table API, sections as outline entries, `{nb}` for the page count.

Each engine runs in a forked child; its peak resident set comes from `os.wait4`. The output is
then read with pypdf: pages, outline entries, the last page's "Page N", tagged PDF (/MarkInfo
/Marked and a /StructTreeRoot). BENCH_BINDER_VENDORS (5000; BENCH_QUICK=1: 200) sets the size,
BENCH_BINDER_ENGINES (comma-separated) limits the engines. Writes var/bench/binder_engines.json.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = ROOT / "var" / "bench"
TARGET_SECONDS = 60
TARGET_VENDORS = 5000
FONTS = Path("/usr/share/fonts/truetype/dejavu")
ORGANIZATION = "Example Corp"
AS_OF = "2026-12-01 00:00"

# The vendor table's column groups, as reports/pdf.py groups `COLUMNS`.
GROUPS = ("identity", "data", "risk", "contract", "attestation", "aws", "review", "evidence")
GROUP_TITLES = (
    "Identity",
    "Data",
    "Risk",
    "Contract",
    "Attestation",
    "AWS access",
    "Review",
    "Evidence",
)
GROUP_WIDTHS = (13, 12, 8, 10, 14, 22, 9, 12)
APPENDIX_A = (
    "Request",
    "Vendor",
    "Strategy",
    "Requested by",
    "Requested at (UTC)",
    "Approvers (UTC)",
    "Activated (UTC)",
    "Status at as-of",
    "Revoked/expired (UTC)",
    "Pull request",
)
APPENDIX_B = ("Time (UTC)", "Object", "Change", "Detail", "Actor")
APPENDIX_C = (
    "Vendor",
    "Review",
    "Report period end",
    "Kind",
    "Description",
    "Vendor response",
    "Relevant",
    "Disposition",
)
WIDTHS_A = (5, 10, 12, 10, 8, 17, 8, 7, 8, 15)
NOTE_A = (
    "One line per request. Every event of these requests (actor, action, status change, "
    "comment) is in the CSV export's approval-trail part and in the audit trail export "
    "(Reports, Audit trail, CSV or JSONL)."
)
VENDORS_NOTE = (
    "One row per vendor. AWS access has a line per live grant; an account list longer than "
    "four is cut to its first four and a count; AWS managed policies are named without their "
    "ARN prefix (the CSV and XLSX have every account, and Appendix A each grant's approvers "
    "and pull request)."
)

Facts = dict[str, list[tuple[str, str]]]
Line = tuple[str, ...]


# ---- the data ---------------------------------------------------------------------------


def vendors(n: int) -> Iterator[Facts]:
    """`n` vendors' grouped facts, as reports.pdf._vendor_facts gives them."""
    rng = random.Random(21)  # noqa: S311 - synthetic data, repeatable
    strategies = ("Cross-account role", "IAM user with keys", "Organization-wide role")
    policies = ("ReadOnlyAccess", "AmazonS3ReadOnlyAccess", "SecurityAudit", "ViewOnlyAccess")
    for i in range(n):
        grants = []
        for g in range(rng.choice((0, 1, 1, 2, 3))):
            accounts = [f"{rng.randrange(10**11, 10**12)}" for _ in range(rng.choice((1, 2, 6)))]
            shown = ", ".join(accounts[:4])
            more = f" and {len(accounts) - 4} more" if len(accounts) > 4 else ""
            line = (
                f"{rng.choice(strategies)} · {len(accounts)} accounts: {shown}{more} · "
                f"{rng.choice(policies)}, inline policy sha256:{rng.getrandbits(48):012x} · "
                f"2026-0{1 + g}-1{g} to 2027-01-01"
            )
            if g == 1:
                line += f" · key AKIA****{rng.getrandbits(16):04X} last used 2026-11-30 s3"
            grants.append((f"#{i * 4 + g + 1}", line))
        yield {
            "identity": [
                ("Vendor legal name", f"Vendor {i:05d} Holdings Limited"),
                ("Vendor", f"vendor-{i:05d}"),
                ("Service", rng.choice(("Payroll", "Ticketing", "Analytics", "Backups"))),
                ("Purpose of processing", "Processing of staff records for HR support"),
                ("Internal owner", f"owner{i % 60}@example.com"),
                ("Date added", "2024-03-0" + str(1 + i % 9)),
                ("Status", "Active"),
            ],
            "data": [
                ("Data categories", "Contact details, employment records"),
                ("Classification", rng.choice(("Confidential", "Internal", "Restricted"))),
                ("Storage regions", "eu-west-1, eu-central-1"),
                ("Processing regions", "EU"),
                ("Transfer mechanism", "SCCs"),
                ("4th parties disclosed", "Y"),
            ],
            "risk": [("Key vendor", rng.choice("YN")), ("Tier", f"Tier {1 + i % 3}")],
            "contract": [("DPA signed", "2024-02-11"), ("Contract end", "2027-02-10")],
            "attestation": [
                ("Type", "SOC 2 Type II"),
                ("Period end", "2026-06-30"),
                ("Bridge letter", rng.choice("YN")),
            ],
            "aws": grants or [("Access", "none")],
            "review": [("State", "Current"), ("Last review", "2026-09-14")],
            "evidence": [("Files", str(rng.randrange(1, 9))), ("Last upload", "2026-10-02")],
        }


def appendix_a(n: int) -> Iterator[Line]:
    rng = random.Random(22)  # noqa: S311 - synthetic data, repeatable
    for i in range(n * 6 // 5):
        yield (
            str(1000 + i),
            f"Vendor {i % n:05d} Holdings Limited",
            "Cross-account role",
            f"requester{i % 40}@example.com",
            "2026-03-02 10:14",
            f"alice@example.com 2026-03-02 11:02; bob@example.com 2026-03-03 0{i % 10}:40",
            "2026-03-03 12:00",
            rng.choice(("active", "expired", "revoked")),
            "",
            f"https://git.example.com/infra/pull/{2000 + i}",
        )


def appendix_b(n: int) -> Iterator[Line]:
    for i in range(n * 2):
        yield (
            "2026-05-0" + str(1 + i % 9) + " 09:30",
            f"Vendor vendor-{i % n:05d}",
            "changed",
            f"review state: due soon -> current; tier: {1 + i % 3}",
            f"reviewer{i % 20}@example.com",
        )


def appendix_c(n: int) -> Iterator[Line]:
    for i in range(n // 5):
        yield (
            f"Vendor {i * 5:05d} Holdings Limited",
            f"#{300 + i}",
            "2026-06-30",
            "Exception",
            "Access reviews for two quarters were not evidenced",
            "Remediated in Q3; quarterly reviews now automated",
            "Y",
            "Accepted with compensating control",
        )


def appendices(n: int) -> list[tuple[str, Line, Iterator[Line]]]:
    return [
        ("Appendix A - Approval trail", APPENDIX_A, appendix_a(n)),
        ("Appendix B - Changes in the period", APPENDIX_B, appendix_b(n)),
        ("Appendix C - Exceptions register", APPENDIX_C, appendix_c(n)),
    ]


def data_sha256(n: int) -> str:
    """The data's hash, as the cover prints it (the portal's is the CSV table's)."""
    digest = hashlib.sha256()
    for facts in vendors(n):
        digest.update(json.dumps(facts, sort_keys=True).encode())
    return digest.hexdigest()


def cover_items(n: int, sha: str) -> list[tuple[str, str]]:
    return [
        ("Organization", ORGANIZATION),
        ("As of (UTC)", AS_OF),
        ("Period", "2025-12-01 to 2026-11-30"),
        ("Vendors", f"{n:,}"),
        ("Filters", "all tiers, all review states"),
        ("Data SHA-256", sha),
    ]


def footer_text(sha: str) -> str:
    return f"{ORGANIZATION} · subprocessor report as of {AS_OF} · data SHA-256 {sha[:16]}…"


def group_text(facts: Facts, group: str) -> str:
    return "\n".join(
        text if group == "identity" and k == 0 else f"{label}: {text}"
        for k, (label, text) in enumerate(facts[group])
    )


# ---- the engines ------------------------------------------------------------------------


def render_weasyprint(n: int, out: Path) -> None:
    """The portal's own path: reports.pdf's templates, parts and pypdf join."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "accessportal.settings",
            "DATABASE_URL": "sqlite://:memory:",
            "CELERY_BROKER_URL": "memory://",
            "CACHE_URL": "locmemcache://",
            "PORTAL_STATIC_MANIFEST": "false",
            "DJANGO_SECRET_KEY": "bench-secret-key-" + "x" * 40,
        }
    )
    import django

    django.setup()
    # Only now: the portal's modules need Django set up (this child process does it itself).
    from reports import pdf

    sha = data_sha256(n)
    summary = SimpleNamespace(organization=ORGANIZATION, as_of=AS_OF, data_sha256=sha)
    base = {"summary": summary, "footer_css": pdf.css_string(footer_text(sha))}
    chart = {"bars": [], "legend": [], "height": 190}
    cover = {**base, "items": cover_items(n, sha), "chart": chart, "first_page": 1}
    cover_pages = len(pdf._part_reader("reports/pdf/cover.html", cover).pages)
    binder = pdf._Binder(first_page=cover_pages + 1)
    binder.add_section("reports/pdf/vendors.html", base, "Subprocessors", vendors(n), _nothing)
    for title, headers, lines in appendices(n):
        section = {
            **base,
            "title": title,
            "headers": headers,
            "note": NOTE_A if headers is APPENDIX_A else "",
            "widths": WIDTHS_A if headers is APPENDIX_A else None,
        }
        binder.add_section("reports/pdf/appendix.html", section, title, lines, _nothing)
    total = cover_pages + len(binder.writer.pages)
    writer = binder.writer
    writer.merge(
        0,
        pdf._part_reader("reports/pdf/cover.html", {**cover, "pages": total}),
        import_outline=False,
    )
    writer.add_outline_item(title="Summary", page_number=0)
    for title, index in binder.outline:
        writer.add_outline_item(title=title, page_number=cover_pages + index)
    with out.open("wb") as f:
        writer.write(f)


def _nothing(done: int) -> None:
    pass


def render_reportlab(n: int, out: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        PageBreak,
        PageTemplate,
        Paragraph,
        Table,
        TableStyle,
    )

    font, bold = "Helvetica", "Helvetica-Bold"
    if (FONTS / "DejaVuSans.ttf").is_file():
        pdfmetrics.registerFont(TTFont("DejaVu", str(FONTS / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(FONTS / "DejaVuSans-Bold.ttf")))
        font, bold = "DejaVu", "DejaVu-Bold"
    sha = data_sha256(n)
    footer = footer_text(sha)
    ink, grey, blue = colors.HexColor("#1b1f24"), colors.HexColor("#4a5360"), "#0b4f8a"
    cell = ParagraphStyle("cell", fontName=font, fontSize=6.5, leading=8, textColor=ink)
    head = ParagraphStyle("head", parent=cell, fontName=bold)
    h1 = ParagraphStyle("h1", fontName=bold, fontSize=20, leading=24, textColor=blue)
    h2 = ParagraphStyle("h2", fontName=bold, fontSize=12, leading=15, textColor=blue)
    note = ParagraphStyle("note", parent=cell, textColor=grey, spaceAfter=2 * mm)
    page_w, page_h = landscape(A4)
    frame = Frame(10 * mm, 14 * mm, page_w - 20 * mm, page_h - 26 * mm, id="body")

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.setFillColor(grey)
        canvas.drawString(10 * mm, 7 * mm, footer)
        canvas.drawRightString(page_w - 10 * mm, 7 * mm, f"Page {doc.page}")
        if doc.page == 1:
            # The page count is known at the end: a form drawn now, defined in `on_end`.
            canvas.doForm("page_count")
        canvas.restoreState()

    class Binder(BaseDocTemplate):  # type: ignore[misc]
        def afterFlowable(self, flowable: Any) -> None:
            if isinstance(flowable, Paragraph) and flowable.style.name in ("h1", "h2"):
                key = f"s{self.seq.nextf('section')}"
                self.canv.bookmarkPage(key)
                self.canv.addOutlineEntry(flowable.getPlainText(), key, 0)

    doc = Binder(str(out), pagesize=(page_w, page_h), title=f"Subprocessor report · {ORGANIZATION}")
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=on_page)])
    esc = _xml_escape
    story: list[Any] = [Paragraph("Subprocessor report", h1)]
    items = [*cover_items(n, sha), ("Pages in this binder", " ")]
    facts = Table(
        [[Paragraph(esc(k), head), Paragraph(esc(v), cell)] for k, v in items],
        colWidths=(52 * mm, 90 * mm),
        hAlign="LEFT",
    )
    story += [facts, PageBreak()]
    style = TableStyle(
        [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dce6f1")),
            ("LINEBELOW", (0, 1), (-1, -1), 0.3, colors.HexColor("#b9c0c8")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 1 * mm),
            ("RIGHTPADDING", (0, 0), (-1, -1), 1 * mm),
            ("TOPPADDING", (0, 0), (-1, -1), 0.8 * mm),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 0.8 * mm),
        ]
    )
    width = page_w - 20 * mm

    def table(headers: Line, rows: list[list[Any]], widths: tuple[int, ...] | None) -> Any:
        cols = widths or (100 / len(headers),) * len(headers)
        data = [[Paragraph(h, head) for h in headers], *rows]
        return Table(data, colWidths=[width * c / 100 for c in cols], repeatRows=1, style=style)

    story += [Paragraph("Subprocessors", h2), Paragraph(VENDORS_NOTE, note)]
    rows = []
    for v in vendors(n):
        rows.append([Paragraph(esc(group_text(v, g)).replace("\n", "<br/>"), cell) for g in GROUPS])
    story += [table(GROUP_TITLES, rows, GROUP_WIDTHS), PageBreak()]
    for title, headers, lines in appendices(n):
        story.append(Paragraph(title, h2))
        if headers is APPENDIX_A:
            story.append(Paragraph(NOTE_A, note))
        rows = [[Paragraph(esc(v), cell) for v in line] for line in lines]
        story += [table(headers, rows, WIDTHS_A if headers is APPENDIX_A else None), PageBreak()]
    story.pop()
    from reportlab.pdfgen.canvas import Canvas

    class CountingCanvas(Canvas):  # type: ignore[misc]
        """Defines the cover's page-count form once the last page is known (one pass)."""

        def save(self) -> None:
            self.beginForm("page_count")
            self.setFont(font, 6.5)
            # The facts table's last value cell (measured on the rendered cover).
            self.drawString(
                10 * mm + 52 * mm + 3 * mm,
                page_h - 12 * mm - 24 * mm - 7 * 4.1 * mm + 7 * mm,
                str(self.getPageNumber() - 1),
            )
            self.endForm()
            super().save()

    doc.build(story, canvasmaker=CountingCanvas)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_typst(n: int, out: Path) -> None:
    import typst

    sha = data_sha256(n)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        data = {
            "footer": footer_text(sha),
            "vendors_note": VENDORS_NOTE,
            "items": cover_items(n, sha),
            "vendors": [[group_text(v, g) for g in GROUPS] for v in vendors(n)],
            "appendices": [
                {
                    "title": t,
                    "headers": h,
                    "rows": list(rows),
                    "note": NOTE_A if h is APPENDIX_A else "",
                }
                for t, h, rows in appendices(n)
            ],
        }
        (work / "data.json").write_text(json.dumps(data), encoding="utf-8")
        (work / "binder.typ").write_text(TYPST_SOURCE, encoding="utf-8")
        typst.compile(str(work / "binder.typ"), output=str(out), root=str(work))


TYPST_SOURCE = r"""
#let d = json("data.json")
#set document(title: "Subprocessor report · Example Corp")
#set text(font: "DejaVu Sans", size: 6.5pt, fill: rgb("#1b1f24"), lang: "en")
#set page(paper: "a4", flipped: true, margin: (top: 12mm, bottom: 14mm, x: 10mm),
  footer: context text(7pt, fill: rgb("#4a5360"))[#d.footer #h(1fr) Page #counter(page).display()])
#show heading: set text(fill: rgb("#0b4f8a"))
#show heading.where(level: 1): set text(size: 20pt)
#show heading.where(level: 2): set text(size: 12pt)
#let grid-table(headers, rows, widths) = table(
  columns: widths,
  stroke: (x: none, y: 0.3pt + rgb("#b9c0c8")),
  inset: (x: 1mm, y: 0.8mm),
  fill: (_, y) => if y == 0 { rgb("#dce6f1") },
  table.header(..headers.map(h => text(weight: "bold", h))),
  ..rows.flatten(),
)
= Subprocessor report
#table(columns: (52mm, 90mm), stroke: none,
  ..d.items.map(((k, v)) => (text(weight: "bold", k), v)).flatten(),
  [*Pages in this binder*], context str(counter(page).final().first()))
#pagebreak()
== Subprocessors
#text(fill: rgb("#4a5360"), d.vendors_note)
#grid-table(("Identity", "Data", "Risk", "Contract", "Attestation", "AWS access", "Review",
  "Evidence"), d.vendors, (13%, 12%, 8%, 10%, 14%, 22%, 9%, 12%))
#for a in d.appendices [
  #pagebreak()
  == #a.title
  #if a.note != "" { text(fill: rgb("#4a5360"), a.note) }
  #grid-table(a.headers, a.rows, a.headers.len() * (1fr,))
]
"""


TYPST_PART_ROWS = 500
TYPST_PART = r"""
#let d = json("part.json")
#set document(title: "Subprocessor report · Example Corp")
#set text(font: "DejaVu Sans", size: 6.5pt, fill: rgb("#1b1f24"), lang: "en")
#set page(paper: "a4", flipped: true, margin: (top: 12mm, bottom: 14mm, x: 10mm),
  footer: context text(7pt, fill: rgb("#4a5360"))[#d.footer #h(1fr) Page #counter(page).display()])
#counter(page).update(d.first_page)
#show heading: set text(fill: rgb("#0b4f8a"))
#show heading.where(level: 1): set text(size: 20pt)
#show heading.where(level: 2): set text(size: 12pt)
#if d.items != none [
  = Subprocessor report
  #table(columns: (52mm, 90mm), stroke: none,
    ..d.items.map(((k, v)) => (text(weight: "bold", k), v)).flatten(),
    [*Pages in this binder*], d.pages)
]
#if d.title != "" [
  == #d.title
  #text(fill: rgb("#4a5360"), d.note)
]
#if d.headers != none {
  table(
    columns: if d.widths == none { d.headers.len() * (1fr,) } else { d.widths.map(w => w * 1%) },
    stroke: (x: none, y: 0.3pt + rgb("#b9c0c8")),
    inset: (x: 1mm, y: 0.8mm),
    fill: (_, y) => if y == 0 { rgb("#dce6f1") },
    table.header(..d.headers.map(h => text(weight: "bold", h))),
    ..d.rows.flatten(),
  )
}
"""


def render_typst_parts(n: int, out: Path) -> None:
    """Typst in parts of `TYPST_PART_ROWS` rows joined by pypdf, as reports.pdf joins
    WeasyPrint's: memory for one part, a progress step per part."""
    import typst
    from pypdf import PdfReader, PdfWriter

    sha = data_sha256(n)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "part.typ").write_text(TYPST_PART, encoding="utf-8")

        def part(**fields: Any) -> Any:
            data: dict[str, Any] = {"footer": footer_text(sha), "items": None, "title": ""}
            data |= {"pages": "", "note": "", "headers": None, "rows": [], "widths": None}
            data |= fields
            (work / "part.json").write_text(json.dumps(data), encoding="utf-8")
            return PdfReader(io.BytesIO(_typst_in_child(typst, work)))

        items = cover_items(n, sha)
        cover_pages = len(part(items=items, first_page=1, pages="counting").pages)
        writer = PdfWriter()
        outline = []
        sections: list[tuple[str, Line, Iterator[Line], Any, str]] = [
            (
                "Subprocessors",
                GROUP_TITLES,
                (tuple(group_text(v, g) for g in GROUPS) for v in vendors(n)),
                GROUP_WIDTHS,
                VENDORS_NOTE,
            )
        ]
        for title, headers, lines in appendices(n):
            a = headers is APPENDIX_A
            sections.append((title, headers, lines, WIDTHS_A if a else None, NOTE_A if a else ""))
        for title, headers, lines, widths, note in sections:
            outline.append((title, len(writer.pages)))
            opening = True
            rows = list(itertools.islice(lines, TYPST_PART_ROWS))
            while rows or opening:
                first = cover_pages + len(writer.pages) + 1
                heading = {"title": title, "note": note} if opening else {}
                writer.append(
                    part(first_page=first, headers=headers, rows=rows, widths=widths, **heading),
                    import_outline=False,
                )
                opening = False
                rows = list(itertools.islice(lines, TYPST_PART_ROWS))
        total = cover_pages + len(writer.pages)
        writer.merge(0, part(items=items, first_page=1, pages=str(total)), import_outline=False)
        writer.add_outline_item(title="Summary", page_number=0)
        for title, index in outline:
            writer.add_outline_item(title=title, page_number=cover_pages + index)
        with out.open("wb") as f:
            writer.write(f)


# The largest resident set of the forked processes compiling one part each.
PART_PEAK_RSS_KB = [0]


def _typst_in_child(typst: Any, work: Path) -> bytes:
    """One part compiled in a forked process: the binding keeps Typst's memoization cache for
    the process's life (some 130 MB more per 500-row part), so a process per part keeps the
    memory at one part's."""
    pid = os.fork()
    if pid == 0:
        try:
            typst.compile(str(work / "part.typ"), output=str(work / "part.pdf"), root=str(work))
            os._exit(0)
        except BaseException:  # noqa: BLE001 - the parent sees the exit status
            traceback.print_exc()
            os._exit(1)
    _pid, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise RuntimeError("a Typst part failed to compile")
    PART_PEAK_RSS_KB[0] = max(PART_PEAK_RSS_KB[0], usage.ru_maxrss)
    return (work / "part.pdf").read_bytes()


def render_fpdf2(n: int, out: Path) -> None:
    from fpdf import FPDF

    sha = data_sha256(n)
    footer = footer_text(sha)

    class Binder(FPDF):  # type: ignore[misc]
        def footer(self) -> None:
            self.set_y(-10)
            self.set_font("dejavu", size=7)
            self.set_text_color(74, 83, 96)
            self.cell(0, 5, footer)
            self.set_x(10)
            self.cell(0, 5, f"Page {self.page_no()}", align="R")

    pdf = Binder(orientation="L", format="A4")
    pdf.set_margins(10, 12, 10)
    pdf.set_auto_page_break(True, margin=14)
    pdf.add_font("dejavu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("dejavu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_title(f"Subprocessor report · {ORGANIZATION}")
    pdf.alias_nb_pages("{nb}")
    pdf.add_page()
    pdf.start_section("Summary")
    pdf.set_font("dejavu", "B", 20)
    pdf.set_text_color(11, 79, 138)
    pdf.cell(0, 10, "Subprocessor report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(27, 31, 36)
    pdf.set_font("dejavu", size=8)
    with pdf.table(col_widths=(52, 90), width=142, align="L", first_row_as_headings=False) as t:
        for k, v in [*cover_items(n, sha), ("Pages in this binder", "{nb}")]:
            t.row((k, v))

    def section(title: str, headers: Line, rows: Iterator[Line], widths: Any) -> None:
        pdf.add_page()
        pdf.start_section(title)
        pdf.set_font("dejavu", "B", 12)
        pdf.set_text_color(11, 79, 138)
        pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(27, 31, 36)
        pdf.set_font("dejavu", size=6.5)
        with pdf.table(col_widths=widths, line_height=3, padding=0.8) as t:
            t.row(headers)
            for row in rows:
                t.row(row)

    vendor_rows = (tuple(group_text(v, g) for g in GROUPS) for v in vendors(n))
    section("Subprocessors", GROUP_TITLES, vendor_rows, GROUP_WIDTHS)
    for title, headers, lines in appendices(n):
        section(title, headers, lines, WIDTHS_A if headers is APPENDIX_A else None)
    pdf.output(str(out))


ENGINES: dict[str, Callable[[int, Path], None]] = {
    "weasyprint": render_weasyprint,
    "reportlab": render_reportlab,
    "typst": render_typst,
    "typst-parts": render_typst_parts,
    "fpdf2": render_fpdf2,
}


# ---- measuring --------------------------------------------------------------------------


def run_engine(name: str, n: int, out: Path) -> dict[str, Any]:
    """The engine in a forked child: seconds, peak RSS (MB), or the error it raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        status: dict[str, Any] = {}
        try:
            started = time.perf_counter()
            ENGINES[name](n, out)
            status["seconds"] = time.perf_counter() - started
            if PART_PEAK_RSS_KB[0]:
                status["part_peak_rss_mb"] = round(PART_PEAK_RSS_KB[0] / 1024, 1)
        except BaseException as error:  # noqa: BLE001 - reported, not raised, in the child
            status["error"] = f"{type(error).__name__}: {error}"[:300]
            traceback.print_exc()
        with os.fdopen(write, "w") as pipe:
            pipe.write(json.dumps(status))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _pid, _status, usage = os.wait4(pid, 0)
    result = json.loads(text or '{"error": "the child died"}')
    # An engine forking a process per part: the larger of its own peak and a part's.
    own = round(usage.ru_maxrss / 1024, 1)
    result["peak_rss_mb"] = max(own, result.get("part_peak_rss_mb", 0))
    return result


def inspect(path: Path) -> dict[str, Any]:
    """What the output has: pages, outline entries, the last page number, tagging."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(path.read_bytes()))
    pages = len(reader.pages)
    root: Any = reader.trailer["/Root"]
    mark_info = root.get("/MarkInfo")
    marked = bool(mark_info and mark_info.get_object().get("/Marked"))
    last = reader.pages[-1].extract_text() or ""
    cover = reader.pages[0].extract_text() or ""
    return {
        "pages": pages,
        "outline": _count(reader.outline),
        "page_numbers": f"Page {pages}" in last,
        # The count's place in the extracted text differs by engine (ReportLab's is a form
        # drawn before the page's content): a line ending with it is enough.
        "count_on_cover": "Pages in this binder" in cover
        and str(pages) in (line.split()[-1] for line in cover.splitlines() if line.strip()),
        "tagged": marked and "/StructTreeRoot" in root,
        "bytes": path.stat().st_size,
    }


def _count(outline: list[Any]) -> int:
    """Outline entries at every level (pypdf nests a heading's children in a list)."""
    return sum(_count(item) if isinstance(item, list) else 1 for item in outline)


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    n = int(os.environ.get("BENCH_BINDER_VENDORS") or (200 if quick else TARGET_VENDORS))
    wanted = os.environ.get("BENCH_BINDER_ENGINES", "")
    names = [e.strip() for e in wanted.split(",") if e.strip()] or list(ENGINES)
    unknown = set(names) - set(ENGINES)
    if unknown:
        print(f"unknown engines: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            out = Path(folder) / f"{name}.pdf"
            print(f"  {name} at {n:,} vendors ...", flush=True)
            result: dict[str, Any] = {"engine": name, **run_engine(name, n, out)}
            if "error" not in result:
                result.update(inspect(out))
                result["pages_per_second"] = round(result["pages"] / result["seconds"], 1)
                result["projected_seconds"] = round(result["seconds"] * TARGET_VENDORS / n, 1)
                result["seconds"] = round(result["seconds"], 2)
            results.append(result)
            print("   ", json.dumps(result), flush=True)
    report = {"vendors": n, "target_seconds": TARGET_SECONDS, "results": results}
    (RESULTS / "binder_engines.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
