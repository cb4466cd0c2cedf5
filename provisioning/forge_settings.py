"""The forge and the repository mirror that the settings name (FORGE, FORGE_*, SUBSTRATE_*).

Building I/O clients from configuration is provisioning's, like the I/O itself: fulfilment,
the preview and the poll ask here instead of reading the settings each their own way. The one
thing provisioning cannot know is where the local forge keeps its pull requests (fulfilment's
table) and the page that shows one (a URL of the web app): the caller passes them in.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from provisioning.checkout import RepositoryUnavailable
from provisioning.forges import (
    Forge,
    ForgeError,
    ForgePermanentError,
    GitHubForge,
    GitLabForge,
    LocalForge,
)
from provisioning.forges.local import PullRequestStore
from provisioning.gitrepo import GitError, Mirror, export_tree
from provisioning.repo_url import RepoUrlError, local_repo_path

# The values of FORGE (fulfilment's PullRequest.Forge choices use the same words).
LOCAL = "local"
GITHUB = "github"
GITLAB = "gitlab"


def url_password(url: str) -> str:
    """The password written in `url`, if any (a token in SUBSTRATE_REPO_URL)."""
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def safe_message(exc: BaseException | str) -> str:
    """The error's message with any configured secret removed, on one line, capped."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in (settings.FORGE_TOKEN, url_password(settings.SUBSTRATE_REPO_URL)):
        if secret:
            text = text.replace(secret, "***")
    return text[:1000]


def forge_for_settings(
    *, local_store: PullRequestStore | None = None, local_url_template: str = ""
) -> Forge:
    """The forge that FORGE and its settings name; ForgePermanentError when misconfigured.

    FORGE=local needs `local_store` (where its pull requests are kept) and may be given the
    URL of the page of pull request `{number}`."""
    kind = settings.FORGE
    if kind == LOCAL:
        try:
            path = local_repo_path(settings.SUBSTRATE_REPO_URL)
        except RepoUrlError as exc:
            raise ForgePermanentError(str(exc)) from None
        if path is None:
            raise ForgePermanentError(
                "FORGE=local needs SUBSTRATE_REPO_URL to be a local repository path."
            )
        if local_store is None:
            raise ForgePermanentError("FORGE=local needs a store for its pull requests.")
        return LocalForge(path, local_store, url_template=local_url_template)
    if kind == GITHUB:
        if settings.FORGE_GITHUB_APP_ID:
            return GitHubForge(
                api_url=settings.FORGE_API_URL,
                repository=settings.FORGE_REPOSITORY,
                app_id=settings.FORGE_GITHUB_APP_ID,
                app_private_key=settings.FORGE_GITHUB_APP_PRIVATE_KEY,
                app_installation_id=settings.FORGE_GITHUB_APP_INSTALLATION_ID,
            )
        if not settings.FORGE_TOKEN:
            raise ForgePermanentError("FORGE=github needs FORGE_TOKEN or a GitHub App.")
        return GitHubForge(
            api_url=settings.FORGE_API_URL,
            repository=settings.FORGE_REPOSITORY,
            token=settings.FORGE_TOKEN,
        )
    if kind == GITLAB:
        if not settings.FORGE_TOKEN:
            raise ForgePermanentError("FORGE=gitlab needs FORGE_TOKEN.")
        return GitLabForge(
            api_url=settings.FORGE_API_URL,
            project=settings.FORGE_REPOSITORY,
            token=settings.FORGE_TOKEN,
        )
    raise ForgePermanentError(_("The %(forge)s forge is not supported yet.") % {"forge": kind})


def mirror_for_settings(forge: Forge | None = None) -> Mirror:
    """The cached mirror of SUBSTRATE_REPO_URL under VAR_DIR, authenticated as git needs."""
    url = settings.SUBSTRATE_REPO_URL
    # Credentials written in the URL win; otherwise the forge token authenticates git too
    # (for a GitHub App, a current installation token).
    token = None if url_password(url) else (settings.FORGE_TOKEN or None)
    git_token = getattr(forge, "git_token", None)  # GitHubForge's: the app's token
    if token is None and git_token is not None and not url_password(url):
        token = git_token() or None
    # GitLab takes a token over HTTPS with the user name "oauth2"; GitHub with any name.
    username = "oauth2" if token and settings.FORGE == GITLAB else None
    return Mirror(url, Path(settings.VAR_DIR) / "mirrors", token=token, username=username)


@contextlib.contextmanager
def mirrored_default_branch() -> Iterator[tuple[Path, str]]:
    """(folder, commit) of the default branch's tree from the cached mirror, fetched now.

    For previews when SUBSTRATE_REPO_URL is remote (a local path is read directly by
    `provisioning.checkout`). `RepositoryUnavailable` with a token-free reason otherwise.
    """
    base = settings.SUBSTRATE_DEFAULT_BRANCH
    try:
        # Only a GitHub App's forge lends git a token; the others need no forge to fetch.
        forge = forge_for_settings() if settings.FORGE == GITHUB else None
        mirror = mirror_for_settings(forge)
        heads = mirror.sync()
    except (ForgeError, GitError) as exc:
        raise RepositoryUnavailable(safe_message(exc)) from None
    if base not in heads:
        raise RepositoryUnavailable(_("The repository has no branch %(b)s.") % {"b": base})
    with mirror.locked() as repo, tempfile.TemporaryDirectory(prefix="substrate-preview-") as f:
        commit = repo[heads[base].encode()]
        export_tree(repo, commit.tree, Path(f))  # type: ignore[attr-defined]
        yield Path(f), heads[base]
