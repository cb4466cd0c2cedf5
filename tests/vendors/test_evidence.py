"""Evidence files: size and type limits, hostile names, SHA-256, who may download them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.vendors.helpers import PDF, pdf_upload
from vendors import services
from vendors.models import EvidenceFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(vendor, engineer):
    return services.review_start(vendor_id=vendor.pk, actor=engineer)


def test_upload_records_sha256_size_and_type(draft, engineer):
    evidence = services.evidence_add(review_id=draft.pk, actor=engineer, upload=pdf_upload())
    assert evidence.sha256 == hashlib.sha256(PDF).hexdigest()
    assert evidence.size == len(PDF)
    assert evidence.content_type == "application/pdf"
    stored = Path(evidence.file.path)
    assert stored.read_bytes() == PDF
    # Stored under the media root with a random name, never the uploaded one.
    assert stored.is_relative_to(Path(settings.MEDIA_ROOT))
    assert stored.name != "report.pdf"
    assert stored.suffix == ".pdf"


def test_oversize_files_are_refused(draft, engineer, settings):
    settings.PORTAL_EVIDENCE_MAX_BYTES = 1024
    with pytest.raises(ValidationError, match="larger than"):
        services.evidence_add(
            review_id=draft.pk, actor=engineer, upload=pdf_upload(content=PDF + b"0" * 2000)
        )
    assert not EvidenceFile.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("tool.exe", b"MZ\x90\x00", "not accepted"),
        ("report.pdf", b"MZ\x90\x00 this is a program", "does not match"),
        ("page.html", b"<script>alert(1)</script>", "not accepted"),
        ("image.svg", b"<svg onload=alert(1)>", "not accepted"),
        ("notes.txt", b"\xff\xfe\x00binary\x00data", "UTF-8"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_wrong_types_are_refused(draft, engineer, name, content, message):
    upload = SimpleUploadedFile(name, content, content_type="application/pdf")
    with pytest.raises(ValidationError, match=message):
        services.evidence_add(review_id=draft.pk, actor=engineer, upload=upload)


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\system.ini.pdf", "system.ini.pdf"),
        ("report\r\nContent-Type: text/html.pdf", "html.pdf"),  # "/" starts a folder: dropped
        ("report\r\nX-Header: 1.pdf", "reportX-Header_ 1.pdf"),
        ('"><img src=x onerror=alert(1)>.pdf', "___img src_x onerror_alert(1)_.pdf"),
        (".hidden.PDF", "hidden.pdf"),
        ("rapport\u202efdp.exe.pdf", "rapportfdp.exe.pdf"),
    ],
)
def test_hostile_file_names_are_sanitised(draft, engineer, hostile, expected):
    evidence = services.evidence_add(
        review_id=draft.pk, actor=engineer, upload=pdf_upload(name=hostile)
    )
    assert evidence.original_name == expected
    assert Path(evidence.file.path).parent.name == str(draft.pk)


def test_evidence_is_served_only_to_the_right_people(
    client, draft, engineer, other_engineer, security, auditor
):
    evidence = services.evidence_add(review_id=draft.pk, actor=engineer, upload=pdf_upload())
    url = reverse("vendors:evidence_download", kwargs={"pk": evidence.pk})
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(other_engineer)
    assert client.get(url).status_code == 403
    for person in (engineer, security, auditor):
        client.force_login(person)
        response = client.get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PDF
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"


def test_evidence_is_not_under_a_public_static_path():
    assert not str(settings.MEDIA_ROOT).startswith(str(settings.STATIC_ROOT))
    assert not settings.MEDIA_URL or settings.MEDIA_URL == "/"  # nothing serves media directly


def test_upload_through_the_page_shows_the_error(client, draft, engineer):
    client.force_login(engineer)
    url = reverse("vendors:evidence_upload", kwargs={"pk": draft.pk})
    upload = SimpleUploadedFile("x.exe", b"MZ", content_type="application/octet-stream")
    response = client.post(url, {"file": upload}, follow=True)
    assert "Files of this type are not accepted" in response.content.decode()
    assert not EvidenceFile.objects.exists()
