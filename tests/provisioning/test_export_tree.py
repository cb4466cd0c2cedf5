"""`export_tree`, the one way a git tree becomes a folder (previews, generation, branches)."""

from __future__ import annotations

import os
import stat

from dulwich.objects import Blob, Tree
from dulwich.repo import Repo

from provisioning.gitrepo import export_tree


def _tree(repo: Repo) -> bytes:
    blobs = {
        b"plain.txt": (0o100644, b"plain\n"),
        b"run.sh": (0o100755, b"#!/bin/sh\n"),
        b"link": (0o120000, b"/etc/passwd"),
        b"sub/.git/config": (0o100644, b"no\n"),
    }
    sub_git, sub, root = Tree(), Tree(), Tree()
    for name, (mode, data) in blobs.items():
        blob = Blob.from_string(data)
        repo.object_store.add_object(blob)
        if name == b"sub/.git/config":
            sub_git.add(b"config", mode, blob.id)
        else:
            root.add(name, mode, blob.id)
    repo.object_store.add_object(sub_git)
    sub.add(b".git", stat.S_IFDIR, sub_git.id)
    repo.object_store.add_object(sub)
    root.add(b"sub", stat.S_IFDIR, sub.id)
    repo.object_store.add_object(root)
    return root.id


def test_files_links_and_the_executable_bit(tmp_path):
    repo = Repo.init_bare(str(tmp_path / "r.git"), mkdir=True)
    out = tmp_path / "out"
    out.mkdir()
    export_tree(repo, _tree(repo), out)
    assert (out / "plain.txt").read_bytes() == b"plain\n"
    assert os.access(out / "run.sh", os.X_OK)
    assert not os.access(out / "plain.txt", os.X_OK)
    assert os.readlink(out / "link") == "/etc/passwd"
    assert not (out / "sub").exists()


def test_a_preview_export_skips_links(tmp_path):
    repo = Repo.init_bare(str(tmp_path / "r.git"), mkdir=True)
    out = tmp_path / "out"
    out.mkdir()
    export_tree(repo, _tree(repo), out, symlinks=False)
    assert sorted(p.name for p in out.iterdir()) == ["plain.txt", "run.sh"]
