"""Change sets for Substrate repositories: a vendor grant in, files and commands out.

Pure Python: no Django, no network, no AWS SDK. The public surface:

* `Grant`, `TargetAccount`, `Strategy`: what was approved;
* `generate_changeset(repo, grant)` / `revoke_changeset(repo, grant)`: the `ChangeSet`
  (files with full contents, post-merge commands) granting or revoking it;
* `apply_changeset(directory, changeset)`: writes one into a checkout, refusing unsafe paths;
* `Options`: overrides for the dialect, Substrate version, Substrate account and quality.

SUBSTRATE.md (the specification) explains the layout and commands this follows.
"""

from .apply import apply_changeset
from .changeset import Options, generate_changeset, revoke_changeset
from .errors import ConflictError, GrantError, LayoutError, SubstrateError, UnsafePathError
from .layout import RepoLayout, SubstrateVersion
from .model import (
    AccountType,
    ChangeSet,
    Command,
    Dialect,
    FileAction,
    FileChange,
    Grant,
    Strategy,
    TargetAccount,
)

__all__ = [
    "AccountType",
    "ChangeSet",
    "Command",
    "ConflictError",
    "Dialect",
    "FileAction",
    "FileChange",
    "Grant",
    "GrantError",
    "LayoutError",
    "Options",
    "RepoLayout",
    "Strategy",
    "SubstrateError",
    "SubstrateVersion",
    "TargetAccount",
    "UnsafePathError",
    "apply_changeset",
    "generate_changeset",
    "revoke_changeset",
]
