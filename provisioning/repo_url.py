"""What SUBSTRATE_REPO_URL names: a repository on this machine, or a remote one.

The one parser of the setting, so that every reader (previews, the account sync's cross-check,
the local forge, the demo seeding) agrees on what is local. Local: a plain path (`~` expanded)
or `file:///abs` / `file://localhost/abs`, both the absolute path `/abs`. Remote: http(s),
ssh (`ssh://`, `git+ssh://`) and git's scp-like `user@host:path`. Anything else (another
host's `file://`, an unknown scheme, an empty value) is a `RepoUrlError` that says why.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

# `user@host:path`, git's scp-like syntax for ssh remotes.
_SCP_LIKE = re.compile(r"^[\w.+-]+@[\w.-]+:")
REMOTE_SCHEMES = frozenset({"http", "https", "ssh", "git+ssh"})
# A file URL names this machine with no host or with "localhost" (RFC 8089).
_LOCAL_HOSTS = frozenset({"", "localhost"})


class RepoUrlError(ValueError):
    """The repository URL is neither a local repository nor a supported remote.

    The message never repeats the URL, which may carry a token.
    """


def local_repo_path(url: str) -> Path | None:
    """The filesystem path of `url` when it names a local repository; None when it is remote.

    Raises RepoUrlError for anything else.
    """
    text = url.strip()
    if not text:
        raise RepoUrlError("The Substrate repository URL is empty.")
    if _SCP_LIKE.match(text):
        return None
    if "://" not in text:
        return Path(text).expanduser()
    scheme = text.split("://", 1)[0].lower()
    if scheme in REMOTE_SCHEMES:
        return None
    if scheme != "file":
        raise RepoUrlError(
            f"The Substrate repository URL has the unsupported scheme {scheme!r}: use a path, "
            "file:///path, an http(s) or an ssh URL."
        )
    parts = urlsplit(text)
    host = parts.netloc.lower()
    if host not in _LOCAL_HOSTS:
        raise RepoUrlError(
            f"The Substrate repository URL names a file on another host ({parts.hostname!r}); "
            "only file:///path or file://localhost/path is read here."
        )
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise RepoUrlError("The Substrate repository file:// URL has no absolute path.")
    return Path(path)
