"""`make check` keeps the architecture: a forbidden import breaks it.

Each test copies the portal's packages, its pyproject.toml and Makefile to a temporary
folder, adds one import the README's architecture forbids, and runs `make contracts` (the
step of `make check` that runs import-linter) there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "accessportal",
    "audit",
    "eventstream",
    "vendors",
    "inventory",
    "approvals",
    "fulfilment",
    "keys",
    "notifications",
    "verification",
    "recertification",
    "reports",
    "web",
    "demo",
    "provisioning",
]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "migrations"),
        )
    for name in ("pyproject.toml", "Makefile"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _contracts(folder: Path) -> subprocess.CompletedProcess[str]:
    # VENV: the copy runs the linter of this test's environment.
    return subprocess.run(
        ["make", "--no-print-directory", "contracts", f"VENV={Path(sys.prefix)}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _add_import(folder: Path, module: str, line: str) -> None:
    path = folder / module
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_portal_keeps_every_contract(copy: Path) -> None:
    result = _contracts(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "line", "contract", "named"),
    [
        (
            "audit/models.py",
            "from web.views import dashboard  # noqa",
            "Apps depend downward only",
            "audit is not allowed to import web",
        ),
        (
            "vendors/selectors.py",
            "from approvals.models import AccessRequest  # noqa",
            "Apps depend downward only",
            "vendors is not allowed to import approvals",
        ),
        (
            "provisioning/substrate/hcl.py",
            "from django.conf import settings  # noqa",
            "The change-set generator imports nothing of ours",
            "provisioning.substrate",
        ),
        (
            "keys/services.py",
            "import boto3  # noqa",
            "Only provisioning.aws talks to AWS",
            "boto3",
        ),
    ],
)
def test_a_forbidden_import_breaks_make_check(
    copy: Path, module: str, line: str, contract: str, named: str
) -> None:
    _add_import(copy, module, line)
    result = _contracts(copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
    assert named in broken
