"""The local forge (`make run`, FORGE=local): branches in a local bare repository, pull
requests kept by the portal itself and merged there with dulwich.

Storage-agnostic: pull-request records go through a `PullRequestStore`, which the Django
layer implements with a model; `InMemoryPullRequestStore` serves tests and scripts.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dulwich.graph import can_fast_forward, find_merge_base
from dulwich.index import commit_tree
from dulwich.objects import Commit, ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo

from .base import (
    CommitState,
    ForgePermanentError,
    ForgeTemporaryError,
    PullRequestInfo,
    PullRequestState,
)


class MergeConflict(ForgePermanentError):
    """The default branch changed the same files as the pull request: regenerate it."""


@dataclass(frozen=True)
class PullRequestRecord:
    """A local pull request as stored; `merge_sha` is set once merged."""

    number: int
    branch: str
    base: str
    title: str
    body: str
    state: PullRequestState = PullRequestState.OPEN
    head_sha: str = ""
    merge_sha: str = ""


class PullRequestStore(Protocol):
    """Where the local forge keeps its pull requests (a Django model in the portal)."""

    def find_open(self, branch: str) -> PullRequestRecord | None:
        """The open record for `branch`, if any."""
        ...

    def create(
        self, *, branch: str, base: str, title: str, body: str, head_sha: str
    ) -> PullRequestRecord:
        """Stores a new open record with a fresh number (unique per open branch)."""
        ...

    def get(self, number: int) -> PullRequestRecord:
        """The record numbered `number` (KeyError if none)."""
        ...

    def update(self, record: PullRequestRecord) -> None:
        """Saves `record`'s state, head and merge sha."""
        ...


class InMemoryPullRequestStore:
    """A `PullRequestStore` in a dict (tests, scripts)."""

    def __init__(self) -> None:
        self.records: dict[int, PullRequestRecord] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def find_open(self, branch: str) -> PullRequestRecord | None:
        return next(
            (
                r
                for r in self.records.values()
                if r.branch == branch and r.state is PullRequestState.OPEN
            ),
            None,
        )

    def create(
        self, *, branch: str, base: str, title: str, body: str, head_sha: str
    ) -> PullRequestRecord:
        with self._lock:
            if self.find_open(branch) is not None:
                raise ForgePermanentError(f"A pull request for {branch} is already open.")
            record = PullRequestRecord(
                next(self._numbers), branch, base, title, body, head_sha=head_sha
            )
            self.records[record.number] = record
            return record

    def get(self, number: int) -> PullRequestRecord:
        return self.records[number]

    def update(self, record: PullRequestRecord) -> None:
        self.records[record.number] = record


def _flat_tree(repo: Repo, commit_id: bytes) -> dict[bytes, tuple[int, bytes]]:
    commit = repo[ObjectID(commit_id)]
    if not isinstance(commit, Commit):
        raise ForgePermanentError(f"{commit_id.decode()} is not a commit.")
    return {
        e.path: (e.mode, e.sha)
        for e in repo.object_store.iter_tree_contents(commit.tree)
        if e.path is not None and e.mode is not None and e.sha is not None
    }


def three_way_tree(repo: Repo, base: bytes | None, ours: bytes, theirs: bytes) -> bytes:
    """The merged tree of commits `ours` and `theirs`, path by path; `MergeConflict` when a
    path changed differently on both sides (no line-level merging: reviewers approved the
    pull request's files exactly, so anything subtler gets regenerated instead)."""
    merged = _merged_entries(repo, base, ours, theirs)
    return commit_tree(
        repo.object_store, [(p, ObjectID(sha), mode) for p, (mode, sha) in merged.items()]
    )


def _merged_entries(
    repo: Repo, base: bytes | None, ours: bytes, theirs: bytes
) -> dict[bytes, tuple[int, bytes]]:
    """The merged (mode, sha) of every path; writes nothing (a check may call it freely)."""
    old = _flat_tree(repo, base) if base else {}
    left, right = _flat_tree(repo, ours), _flat_tree(repo, theirs)
    merged: dict[bytes, tuple[int, bytes]] = {}
    conflicts = []
    for path in sorted(old.keys() | left.keys() | right.keys()):
        o, a, b = old.get(path), left.get(path), right.get(path)
        if a == b or b == o:
            pick = a
        elif a == o:
            pick = b
        else:
            conflicts.append(path.decode("utf-8", "replace"))
            continue
        if pick is not None:
            merged[path] = pick
    if conflicts:
        raise MergeConflict("The default branch changed the same files: " + ", ".join(conflicts))
    return merged


class LocalForge:
    """Pull requests between branches of the local bare repository at `repo_path`."""

    def __init__(
        self, repo_path: str | os.PathLike[str], store: PullRequestStore, *, url_template: str = ""
    ) -> None:
        self.repo_path = Path(repo_path)
        self.store = store
        self.url_template = url_template  # e.g. "/requests/pulls/{number}/" in the portal

    def _info(self, record: PullRequestRecord) -> PullRequestInfo:
        return PullRequestInfo(
            number=record.number,
            url=self.url_template.format(number=record.number),
            branch=record.branch,
            base=record.base,
            state=record.state,
            head_sha=record.head_sha,
            title=record.title,
        )

    def _head(self, repo: Repo, branch: str) -> ObjectID:
        try:
            return repo.refs[Ref(f"refs/heads/{branch}".encode())]
        except KeyError:
            raise ForgePermanentError(f"The repository has no branch {branch!r}.") from None

    def find_open_pull_request(self, branch: str) -> PullRequestInfo | None:
        record = self.store.find_open(branch)
        return None if record is None else self._info(record)

    def open_pull_request(self, branch: str, base: str, title: str, body: str) -> PullRequestInfo:
        existing = self.store.find_open(branch)
        if existing is not None:
            return self._info(existing)
        with Repo(str(self.repo_path)) as repo:
            head = self._head(repo, branch)
            self._head(repo, base)
        return self._info(
            self.store.create(
                branch=branch, base=base, title=title, body=body, head_sha=head.decode()
            )
        )

    def pull_request_state(self, number: int) -> PullRequestState:
        try:
            return self.store.get(number).state
        except KeyError:
            raise ForgePermanentError(f"No pull request #{number}.") from None

    def pull_request(self, number: int) -> PullRequestInfo:
        """The record, with `mergeable` computed from the repository: False when the base
        branch moved on and changed the same files (the merge would raise `MergeConflict`)."""
        try:
            record = self.store.get(number)
        except KeyError:
            raise ForgePermanentError(f"No pull request #{number}.") from None
        info = self._info(record)
        if record.state is not PullRequestState.OPEN:
            return info
        with Repo(str(self.repo_path)) as repo:
            head = self._head(repo, record.branch)
            base = self._head(repo, record.base)
            if can_fast_forward(repo, base, head):
                return dataclasses.replace(info, mergeable=True)
            merge_bases = find_merge_base(repo, [base, head])
            try:  # the poll calls this every few minutes: compute, write no objects
                _merged_entries(repo, merge_bases[0] if merge_bases else None, base, head)
            except MergeConflict:
                return dataclasses.replace(info, mergeable=False)
        return dataclasses.replace(info, mergeable=True)

    def update_pull_request_body(self, number: int, body: str) -> None:
        """Replaces the stored body of pull request `number`."""
        try:
            record = self.store.get(number)
        except KeyError:
            raise ForgePermanentError(f"No pull request #{number}.") from None
        self.store.update(dataclasses.replace(record, body=body))

    def close_pull_request(self, number: int) -> None:
        """Closes an open pull request without merging it."""
        self.close(number)

    def set_commit_status(
        self, sha: str, *, state: CommitState, context: str, description: str, target_url: str
    ) -> None:
        """Accepted and dropped: there is no merge to gate here.

        The status exists to stop a merge that bypasses the portal; a local pull request can
        only be merged through the portal itself (security, with a second factor), and the
        portal already records on the pull-request row which head it attested. Accepting the
        call keeps the fulfilment path the same for every forge.
        """

    def close(self, number: int) -> None:
        """Closes an open pull request without merging it."""
        record = self.store.get(number)
        if record.state is PullRequestState.OPEN:
            self.store.update(dataclasses.replace(record, state=PullRequestState.CLOSED))

    def merge(self, number: int, *, committer: str, sha: str) -> str:
        """Merges commit `sha` of pull request `number` into its base; returns the new base sha.

        `sha` is the commit that was approved, and only it is merged: whatever the branch
        points to now (someone may have pushed to it since) is ignored, and the record's head
        becomes `sha`. Fast-forwards when the base has not moved; otherwise writes a merge
        commit if the two sides touched different files, and raises `MergeConflict` if not.
        The ref is updated compare-and-swap, so a concurrent push makes this fail rather than
        lose it.
        """
        record = self.store.get(number)
        if record.state is PullRequestState.MERGED:
            return record.merge_sha
        if record.state is not PullRequestState.OPEN:
            raise ForgePermanentError(f"Pull request #{number} is {record.state}.")
        if not sha:
            raise ForgePermanentError(f"Pull request #{number} has no approved commit to merge.")
        with Repo(str(self.repo_path)) as repo:
            try:
                approved = repo[ObjectID(sha.encode("ascii"))]
            except (KeyError, UnicodeEncodeError, ValueError):
                approved = None
            if not isinstance(approved, Commit):
                raise ForgePermanentError(
                    f"The approved commit {sha[:12]} is not in the repository."
                )
            head = approved.id
            base = self._head(repo, record.base)
            if can_fast_forward(repo, base, head):
                new = head
            else:
                merge_bases = find_merge_base(repo, [base, head])
                tree = three_way_tree(repo, merge_bases[0] if merge_bases else None, base, head)
                commit = Commit()
                commit.tree = tree
                commit.parents = [base, head]
                commit.author = commit.committer = committer.encode("utf-8")
                commit.author_time = commit.commit_time = int(time.time())
                commit.author_timezone = commit.commit_timezone = 0
                commit.message = f"Merge pull request #{number} from {record.branch}\n".encode()
                repo.object_store.add_object(commit)
                new = commit.id
            ref = Ref(f"refs/heads/{record.base}".encode())
            if not repo.refs.set_if_equals(ref, base, new):
                raise ForgeTemporaryError(f"{record.base} moved during the merge; retry.")
        self.store.update(
            dataclasses.replace(
                record,
                state=PullRequestState.MERGED,
                head_sha=head.decode(),
                merge_sha=new.decode(),
            )
        )
        return new.decode()

    def branch_head(self, branch: str) -> str:
        """The commit `branch` points to now (for the audit trail of a merge)."""
        with Repo(str(self.repo_path)) as repo:
            return self._head(repo, branch).decode()
