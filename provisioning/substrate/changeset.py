"""Computing change sets: a grant's footprint compared with the repository as it is.

`generate_changeset` makes the repository say what the grant asks for; `revoke_changeset`
removes exactly what `generate_changeset` would have added (the inverse). Both are
idempotent: run against a tree that already says it, they return an empty change set.

Edits go through a `Workspace`, an overlay on the checkout that records pending contents,
refuses any file Substrate overwrites, and turns the difference into `FileChange`s at the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import policies, terraform, tfedit
from .errors import ConflictError, LayoutError
from .layout import RepoLayout, SubstrateVersion
from .model import ChangeSet, Dialect, FileAction, FileChange, Grant, sha256_text
from .strategies import Context, Footprint, footprint

_ROLE_CREATE_SINCE = SubstrateVersion(2023, 3)
_SUBSTRATE_ROOT_FILES = frozenset({"providers.tf", "terraform.tf", "Makefile", ".gitignore"})
_MANAGED_REPO_FILES = frozenset(
    {
        "substrate.valid-environment-quality-pairs.json",
        "substrate.accounts.txt",
        "substrate.environments",
        "substrate.qualities",
        "substrate.default-region",
        "substrate.prefix",
    }
)
ADMIN_PROVIDERS = "admin-providers.tf"


@dataclass(frozen=True)
class Options:
    """Settings that override what the repository says (all optional).

    `dialect` and `substrate_version` override the version read from
    substrate.valid-environment-quality-pairs.json; `substrate_account_id` and
    `admin_quality` override what is read from `root-modules/admin/<quality>/global`.
    """

    dialect: Dialect | str | None = None
    substrate_version: str | None = None
    substrate_account_id: str | None = None
    admin_quality: str | None = None


def substrate_overwrites(path: str) -> bool:
    """True for files Substrate rewrites (SUBSTRATE.md decision 3): never ours to edit."""
    parts = path.split("/")
    name = parts[-1]
    if path in _MANAGED_REPO_FILES:
        return True
    if parts[0] == "root-modules" and name in _SUBSTRATE_ROOT_FILES:
        return True
    if parts[0] == "root-modules" and name == "versions.tf":
        return True  # root versions.tf constraints are regex-rewritten on every run
    if len(parts) == 5 and parts[:2] == ["root-modules", "admin"] and name == "main.tf":
        return True  # the Substrate account's main.tf, global and regional, is rewritten
    if parts[0] == "modules" and len(parts) > 1:
        # Substrate's own modules are replaced wholesale; intranet's main.tf is removed; every
        # module's substrate.tf is regenerated.
        managed = ("substrate", "intranet", "lambda-function", "peering-connection")
        return parts[1] in managed or name == "substrate.tf"
    return False


class Workspace:
    """Pending edits on top of a checkout."""

    def __init__(self, layout: RepoLayout) -> None:
        self.layout = layout
        self._pending: dict[str, str | None] = {}
        # The same edits by folder, so listing a folder does not scan every edit: a grant over
        # 1,000 accounts lists 1,000 folders after writing about as many files.
        self._pending_by_folder: dict[str, dict[str, str | None]] = {}

    def read(self, path: str) -> str | None:
        """Current content of `path`, including edits made so far (None = absent)."""
        if path in self._pending:
            return self._pending[path]
        return self.layout.read_text(path)

    def write(self, path: str, content: str | None) -> None:
        """Sets the content of `path` (None deletes it)."""
        if substrate_overwrites(path):
            raise LayoutError(f"refusing to edit {path}: Substrate overwrites it")
        self._pending[path] = content
        folder, _, name = path.rpartition("/")
        self._pending_by_folder.setdefault(folder, {})[name] = content

    def list_tf(self, directory: str) -> list[str]:
        """Names of the `.tf` files in a directory, pending creations and deletions included."""
        names = {n for n in self.layout.list_dir(directory) if n.endswith(".tf")}
        for name, content in self._pending_by_folder.get(directory, {}).items():
            if content is None:
                names.discard(name)
            elif name.endswith(".tf"):
                names.add(name)
        return sorted(names)

    def changes(self) -> tuple[FileChange, ...]:
        """The pending edits that differ from the checkout, sorted by path."""
        out: list[FileChange] = []
        for path in sorted(self._pending):
            new = self._pending[path]
            old = self.layout.read_text(path)
            if new == old:
                continue
            if old is None:
                out.append(FileChange(path, FileAction.CREATE, new))
            elif new is None:
                out.append(FileChange(path, FileAction.DELETE, None, sha256_text(old)))
            else:
                out.append(FileChange(path, FileAction.MODIFY, new, sha256_text(old)))
        return tuple(out)


def _context(layout: RepoLayout, options: Options) -> Context:
    if options.substrate_version is not None:
        version = SubstrateVersion.parse(options.substrate_version)
    else:
        found = layout.substrate_version
        if found is None:
            raise LayoutError(
                "no SubstrateVersion in substrate.valid-environment-quality-pairs.json; "
                "set substrate_version"
            )
        version = found
    if options.dialect is not None:
        dialect = Dialect(options.dialect)
    else:
        dialect = Dialect.ROLE_CREATE if version >= _ROLE_CREATE_SINCE else Dialect.TERRAFORM
    if dialect is Dialect.ROLE_CREATE and version < _ROLE_CREATE_SINCE:
        raise LayoutError(f"Substrate {version} has no create-role; use the terraform dialect")
    return Context(
        layout=layout,
        dialect=dialect,
        version=version,
        substrate_account_id=options.substrate_account_id,
        admin_quality=options.admin_quality,
    )


def _check_owned(path: str, text: str, grant: Grant) -> None:
    """Refuses to touch a `.tf` file that is not the portal's file for this vendor/strategy."""
    if not path.endswith(".tf"):
        return  # policies/<vendor>.* belong to the portal by naming convention
    owner = terraform.file_owner(text)
    if owner is None:
        raise ConflictError(f"{path} exists and was not written by the vendor access portal")
    if owner != (grant.vendor, str(grant.strategy)):
        raise ConflictError(
            f"{path} holds the {owner[1]} grant of {owner[0]!r}; revoke that grant first"
        )


# -- aws.admin plumbing (IAM-user strategy, terraform dialect) -------------------------------


def _root_module_has_admin_provider(ws: Workspace, directory: str) -> bool:
    for name in ws.list_tf(directory):
        if name in ("providers.tf", "terraform.tf", "versions.tf", "main.tf"):
            continue
        text = ws.read(f"{directory}/{name}") or ""
        if not terraform.is_plumbing(text) and tfedit.defines_admin_alias(text):
            return True
    return False


def _ensure_plumbing(ws: Workspace, ctx: Context, domain: str) -> None:
    """Makes every root module of `domain` pass an `aws.admin` provider to the domain module.

    The domain module is instantiated by every `root-modules/<domain>/*/*/global`, so once it
    needs `aws.admin`, all of them must provide it (SUBSTRATE.md decision 4).
    """
    module_dir = f"modules/{domain}/global"
    versions_path = f"{module_dir}/versions.tf"
    proxy_path = f"{module_dir}/{ADMIN_PROVIDERS}"
    versions = ws.read(versions_path)
    state = tfedit.aliases_state(versions, versions_path) if versions is not None else "absent"
    if state == "editable" and versions is not None:
        ws.write(versions_path, tfedit.add_alias_admin(versions, versions_path))
    elif state != "present" and not any(
        tfedit.defines_admin_alias(ws.read(f"{module_dir}/{name}") or "")
        for name in ws.list_tf(module_dir)
        if name != ADMIN_PROVIDERS
    ):
        existing = ws.read(proxy_path)
        if existing is not None and not terraform.is_plumbing(existing):
            raise ConflictError(f"{proxy_path} exists and was not written by the portal")
        ws.write(proxy_path, terraform.admin_proxy_file())

    provider = terraform.admin_provider_file(ctx.require_substrate_account(), ctx.require_region())
    for module in ctx.layout.domain_modules(domain):
        main_path = f"{module.path}/main.tf"
        main = ws.read(main_path)
        if main is None:
            raise LayoutError(f"{main_path} is missing")
        ws.write(main_path, tfedit.add_providers_admin(main, domain, main_path))
        path = f"{module.path}/{ADMIN_PROVIDERS}"
        existing = ws.read(path)
        if existing is not None and not terraform.is_plumbing(existing):
            if tfedit.defines_admin_alias(existing):
                continue  # a human already provides aws.admin here
            raise ConflictError(f"{path} exists and was not written by the portal")
        if existing is None and _root_module_has_admin_provider(ws, module.path):
            continue
        ws.write(path, provider)


def _write_or_warn(
    ws: Workspace, path: str, edited: str | None, what: str, warnings: list[str]
) -> bool:
    """Writes the un-edited file, or leaves it and says so when our marked edit was changed."""
    if edited is None:
        warnings.append(f"{path}: the portal's {what} was edited; left")
        return False
    ws.write(path, edited)
    return True


def _remove_plumbing(ws: Workspace, ctx: Context, domain: str, warnings: list[str]) -> None:
    """Removes the portal's plumbing from `domain` once nothing in its module uses aws.admin."""
    module_dir = f"modules/{domain}/global"
    for name in ws.list_tf(module_dir):
        if name in ("versions.tf", ADMIN_PROVIDERS):
            continue
        if tfedit.references_aws_admin(ws.read(f"{module_dir}/{name}") or ""):
            return  # another vendor (or a human) still needs the provider
    versions_path = f"{module_dir}/versions.tf"
    versions = ws.read(versions_path)
    if versions is not None and tfedit.ALIASES_MARKER in versions:
        edited = tfedit.remove_alias_admin(versions, versions_path)
        _write_or_warn(ws, versions_path, edited, "aws.admin alias", warnings)
        versions = ws.read(versions_path)
    if versions is not None and tfedit.aliases_state(versions, versions_path) == "present":
        return  # the module still requires aws.admin, so every root module must keep passing it
    proxy_path = f"{module_dir}/{ADMIN_PROVIDERS}"
    proxy = ws.read(proxy_path)
    if proxy is not None and terraform.is_plumbing(proxy):
        ws.write(proxy_path, None)
    for module in ctx.layout.domain_modules(domain):
        main_path = f"{module.path}/main.tf"
        main = ws.read(main_path)
        if main is not None and tfedit.PROVIDERS_MARKER in main:
            edited = tfedit.remove_providers_admin(main, domain, main_path)
            if not _write_or_warn(ws, main_path, edited, "aws.admin entry", warnings):
                continue  # keep the provider the entry that stays refers to
        path = f"{module.path}/{ADMIN_PROVIDERS}"
        existing = ws.read(path)
        if existing is not None and terraform.is_plumbing(existing):
            ws.write(path, None)


# -- public API -----------------------------------------------------------------------------


def _size_warnings(ws: Workspace, fp: Footprint) -> list[str]:
    out = []
    for path in sorted({path for path, _ in fp.statements}):
        text = ws.read(path)
        if text is None:
            continue
        size = policies.minified_length(policies.check_document(text, path).get("Statement"))
        estimate = size + policies.SUBSTRATE_CANONICAL_ESTIMATE
        if estimate > policies.TRUST_POLICY_DEFAULT_QUOTA:
            out.append(
                f"{path}: the merged trust policy will be about {estimate} characters; AWS's "
                f"default quota is {policies.TRUST_POLICY_DEFAULT_QUOTA} (4,096 on request)"
            )
    return out


def _finish(
    grant: Grant, ctx: Context, ws: Workspace, fp: Footprint, revoke: bool, extra: list[str]
) -> ChangeSet:
    files = ws.changes()
    commands = (fp.revoke_commands if revoke else fp.grant_commands) if files else []
    # The footprint's warnings describe what granting does; a revocation has only its own.
    if not files:
        warnings = []
    elif revoke:
        warnings = extra
    else:
        warnings = [*fp.warnings, *_size_warnings(ws, fp)]
    return ChangeSet(
        vendor=grant.vendor,
        strategy=grant.strategy,
        dialect=ctx.dialect,
        substrate_version=str(ctx.version),
        revoke=revoke,
        files=files,
        commands=tuple(commands),
        warnings=tuple(warnings),
    )


def _start(
    repo: str | os.PathLike[str] | RepoLayout, grant: Grant, options: Options | None
) -> tuple[Context, Footprint, Workspace]:
    layout = repo if isinstance(repo, RepoLayout) else RepoLayout(repo)
    ctx = _context(layout, options or Options())
    return ctx, footprint(grant, ctx), Workspace(layout)


def generate_changeset(
    repo: str | os.PathLike[str] | RepoLayout, grant: Grant, options: Options | None = None
) -> ChangeSet:
    """The change set that makes the repository at `repo` grant `grant`.

    Empty if the repository already does. Raises `GrantError` for grants the repository
    cannot express and `LayoutError` (or a subclass) for repositories it cannot safely edit.

    In the role-create dialect the account selection lives only in the `role create` command
    (Substrate records it in role tags, not in the repository), so a grant that changes only
    its accounts also gives an empty change set: the caller must run the new command itself.
    """
    ctx, fp, ws = _start(repo, grant, options)
    for path, content in fp.owned_files.items():
        current = ws.read(path)
        if current is not None:
            _check_owned(path, current, grant)
        ws.write(path, content)
    for path, statement in fp.statements:
        current = ws.read(path)
        if current is None:
            ws.write(path, policies.document_text([statement]))
        else:
            ws.write(path, policies.add_statement(current, statement, path))
    for domain in fp.iam_user_domains:
        _ensure_plumbing(ws, ctx, domain)
    return _finish(grant, ctx, ws, fp, revoke=False, extra=[])


def revoke_changeset(
    repo: str | os.PathLike[str] | RepoLayout, grant: Grant, options: Options | None = None
) -> ChangeSet:
    """The inverse of `generate_changeset`: removes the grant's files and statements.

    Applied after the grant's change set, it restores the repository byte for byte (other
    vendors' grants made in between stay intact). Empty if the grant is not in the repository.
    """
    ctx, fp, ws = _start(repo, grant, options)
    warnings: list[str] = []
    for path in fp.owned_files:
        current = ws.read(path)
        if current is not None:
            _check_owned(path, current, grant)
            ws.write(path, None)
    for path, statement in fp.statements:
        current = ws.read(path)
        if current is None:
            continue
        edited = policies.remove_statement(current, statement, path)
        if edited == current:
            continue
        # A document left exactly as the portal creates it, minus the statement, was created
        # by the portal: delete it so that grant + revoke restores the tree exactly.
        ws.write(path, None if policies.is_pristine_empty(edited) else edited)
    for domain in fp.iam_user_domains:
        _remove_plumbing(ws, ctx, domain, warnings)
    return _finish(grant, ctx, ws, fp, revoke=True, extra=warnings)
