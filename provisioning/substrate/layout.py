"""Reading a Substrate repository checkout: what exists, never what "should" exist.

`RepoLayout` lists the domains, environments, qualities and root modules that are actually in
the tree (SUBSTRATE.md decision 2), reads the Substrate version, default region and the
Substrate account number from the files Substrate writes, and reads file contents for the
strategies. Every path goes through `safe_path`, which refuses anything that would leave the
repository, including through a symlink.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from . import names
from .errors import LayoutError, UnsafePathError

VEQP_FILE = "substrate.valid-environment-quality-pairs.json"
ENVIRONMENTS_FILE = "substrate.environments"
QUALITIES_FILE = "substrate.qualities"
DEFAULT_REGION_FILE = "substrate.default-region"

# Directories under root-modules/ that are not service-account domains (Substrate's reserved
# domain names plus the special accounts' trees).
RESERVED_DOMAINS = frozenset(
    {
        "admin",
        "audit",
        "common",
        "deploy",
        "intranet",
        "lambda-function",
        "management",
        "network",
        "peering-connection",
        "substrate",
    }
)

_VERSION = re.compile(r"([0-9]{4})\.([0-9]{2})(?:[.-].*)?", re.ASCII)
_ROLE_ARN_ACCOUNT = re.compile(r'role_arn\s*=\s*"arn:aws:iam::([0-9]{12}):role/', re.ASCII)
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]", re.ASCII)


@dataclass(frozen=True, order=True)
class SubstrateVersion:
    """A Substrate release, `YYYY.MM`; ordered so eras compare naturally."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> SubstrateVersion:
        """Parses "2024.08" (suffixes such as "-dirty" are ignored); LayoutError otherwise."""
        match = _VERSION.fullmatch(text.strip())
        if not match:
            raise LayoutError(f"{text!r} is not a Substrate version (YYYY.MM)")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}.{self.month:02d}"


@dataclass(frozen=True, order=True)
class ServiceModule:
    """`root-modules/<domain>/<environment>/<quality>/global`: one service account's tree."""

    domain: str
    environment: str
    quality: str

    @property
    def key(self) -> tuple[str, str, str]:
        """(domain, environment, quality)."""
        return (self.domain, self.environment, self.quality)

    @property
    def path(self) -> str:
        """Repository-relative path of the account's global root module."""
        return f"root-modules/{self.domain}/{self.environment}/{self.quality}/global"


def _checked_relative(rel: str) -> str:
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise UnsafePathError(f"unsafe path {rel!r}")
    if rel.startswith("/") or posixpath.isabs(rel):
        raise UnsafePathError(f"absolute path {rel!r}")
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError(f"path {rel!r} is not a plain relative path")
    if parts[0] == ".git":
        raise UnsafePathError(f"path {rel!r} is inside .git")
    return rel


def safe_path(root: Path, rel: str) -> Path:
    """The absolute path of repository-relative `rel`, refusing any way out of `root`.

    Refuses absolute paths, `..`, empty or `.` segments, backslashes, NUL, `.git/`, and any
    existing component that resolves (through symlinks) outside the repository.
    """
    _checked_relative(rel)
    real_root = os.path.realpath(root)
    candidate = os.path.join(real_root, *rel.split("/"))
    resolved = os.path.realpath(candidate)
    if os.path.commonpath([real_root, resolved]) != real_root:
        raise UnsafePathError(f"path {rel!r} resolves outside the repository")
    return Path(candidate)


class RepoLayout:
    """A read-only view of one Substrate repository checkout."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise LayoutError(f"{self.root} is not a directory")
        self._text_cache: dict[str, str | None] = {}

    # -- files -------------------------------------------------------------------------------

    def read_text(self, rel: str) -> str | None:
        """The content of a repository file (None if absent), decoded as UTF-8, newlines kept."""
        if rel in self._text_cache:
            return self._text_cache[rel]
        path = safe_path(self.root, rel)
        if path.is_symlink():
            # A symlinked file inside the repo is still a file we might overwrite through.
            raise UnsafePathError(f"{rel} is a symlink")
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                text: str | None = handle.read()
        except FileNotFoundError:
            text = None
        except IsADirectoryError as exc:
            raise LayoutError(f"{rel} is a directory") from exc
        except UnicodeDecodeError as exc:
            raise LayoutError(f"{rel} is not UTF-8") from exc
        self._text_cache[rel] = text
        return text

    def exists(self, rel: str) -> bool:
        """True if the repository file or directory exists."""
        return safe_path(self.root, rel).exists()

    def list_dir(self, rel: str) -> list[str]:
        """Sorted entry names of a repository directory ([] if it does not exist)."""
        path = safe_path(self.root, rel)
        try:
            return sorted(entry.name for entry in os.scandir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list_subdirs(self, rel: str) -> list[str]:
        """Sorted names of the real (non-symlink) subdirectories of a repository directory."""
        path = safe_path(self.root, rel)
        try:
            entries = list(os.scandir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))

    # -- Substrate's own files ---------------------------------------------------------------

    def _lines(self, rel: str) -> list[str]:
        text = self.read_text(rel)
        if text is None:
            return []
        return [line.strip() for line in text.split("\n") if line.strip()]

    @cached_property
    def substrate_version(self) -> SubstrateVersion | None:
        """`SubstrateVersion` from substrate.valid-environment-quality-pairs.json, if present."""
        text = self.read_text(VEQP_FILE)
        if text is None:
            return None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise LayoutError(f"{VEQP_FILE}: invalid JSON: {exc}") from exc
        value = doc.get("SubstrateVersion") if isinstance(doc, dict) else None
        if not isinstance(value, str) or not value:
            return None
        return SubstrateVersion.parse(value)

    @cached_property
    def environments(self) -> tuple[str, ...]:
        """Environments in Substrate's order (substrate.environments), without `admin`."""
        return tuple(e for e in self._lines(ENVIRONMENTS_FILE) if e != "admin")

    @cached_property
    def qualities(self) -> tuple[str, ...]:
        """Qualities in Substrate's order (substrate.qualities)."""
        return tuple(self._lines(QUALITIES_FILE))

    @cached_property
    def default_region(self) -> str | None:
        """The organization's default region (substrate.default-region), if recorded."""
        lines = self._lines(DEFAULT_REGION_FILE)
        if not lines:
            return None
        if not _REGION.fullmatch(lines[0]):
            raise LayoutError(f"{DEFAULT_REGION_FILE}: {lines[0]!r} is not a region name")
        return lines[0]

    def position(self, values: tuple[str, ...], name: str) -> int:
        """Index of `name` in `values` (unknown names sort last), for Substrate's ordering."""
        return values.index(name) if name in values else len(values)

    @cached_property
    def service_modules(self) -> tuple[ServiceModule, ...]:
        """Every service account's global root module, in Substrate's order."""
        found: list[ServiceModule] = []
        for domain in self.list_subdirs("root-modules"):
            if domain in RESERVED_DOMAINS:
                continue
            for environment in self.list_subdirs(f"root-modules/{domain}"):
                for quality in self.list_subdirs(f"root-modules/{domain}/{environment}"):
                    module = ServiceModule(domain, environment, quality)
                    if not self.exists(module.path):
                        continue
                    for value in module.key:
                        if not names.DIMENSION_NAME.fullmatch(value):
                            raise LayoutError(f"{module.path}: unsupported directory name")
                    found.append(module)
        return tuple(
            sorted(
                found,
                key=lambda m: (
                    m.domain,
                    self.position(self.environments, m.environment),
                    m.environment,
                    self.position(self.qualities, m.quality),
                    m.quality,
                ),
            )
        )

    @cached_property
    def service_module_keys(self) -> frozenset[tuple[str, str, str]]:
        """The (domain, environment, quality) of every service root module."""
        return frozenset(m.key for m in self.service_modules)

    def domain_modules(self, domain: str) -> tuple[ServiceModule, ...]:
        """Every root module of one domain (all its environments and qualities)."""
        return tuple(m for m in self.service_modules if m.domain == domain)

    @cached_property
    def admin_qualities(self) -> tuple[str, ...]:
        """Qualities with a `root-modules/admin/<quality>/global` (the Substrate account)."""
        return tuple(
            q
            for q in self.list_subdirs("root-modules/admin")
            if self.exists(f"root-modules/admin/{q}/global")
        )

    def admin_quality(self, override: str | None = None) -> str:
        """The Substrate (admin) account's quality: the override, or the only one present."""
        if override is not None:
            if override not in self.admin_qualities:
                raise LayoutError(f"no root-modules/admin/{override}/global in the repository")
            return override
        if len(self.admin_qualities) != 1:
            raise LayoutError(
                "cannot tell the Substrate account's quality: found "
                f"{list(self.admin_qualities) or 'no'} root-modules/admin/<quality>; "
                "set admin_quality"
            )
        return self.admin_qualities[0]

    def module_account_id(self, module_dir: str) -> str | None:
        """The account number a root module's generated providers.tf assumes a role in."""
        text = self.read_text(f"{module_dir}/providers.tf")
        if text is None:
            return None
        match = _ROLE_ARN_ACCOUNT.search(text)
        return match.group(1) if match else None
