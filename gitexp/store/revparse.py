"""Revisions: what `git rev-parse` accepts that gitexp needs (refs, short ids, ~N and ^N).

A mixin of `GitDB` (it uses `self.repo`, `read_ref` and `commit_info`).
"""

from __future__ import annotations

import re

from gitexp.store.ids import to_oid

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from dulwich.repo import Repo


class RevisionsMixin:
    """Resolve revision text to a commit id."""

    hex_length: int

    @property
    def repo(self) -> Repo:  # provided by GitDB
        raise NotImplementedError

    def read_ref(self, ref: str) -> str | None:  # provided by RefsMixin
        raise NotImplementedError

    def commit_info(self, sha: str) -> tuple[str, list[str]]:  # provided by GitDB
        raise NotImplementedError

    def has_object(self, sha: str) -> bool:  # provided by GitDB
        raise NotImplementedError

    def resolve(self, rev: str) -> str | None:
        """Resolve a ref name, branch, tag or full/abbreviated commit id to a commit id."""
        # git's order (gitrevisions(7)): a tag wins over a branch of the same name.
        for name in (rev, f"refs/{rev}", f"refs/tags/{rev}", f"refs/heads/{rev}",
                     f"refs/remotes/{rev}", f"refs/remotes/{rev}/HEAD"):
            if name.startswith("refs/") or name == "HEAD":
                sha = self.read_ref(name)
                if sha:
                    return self._peel(sha)
        if 4 <= len(rev) <= self.hex_length and all(c in "0123456789abcdef" for c in rev.lower()):
            return self._expand_sha(rev.lower())
        return self._parse_revision(rev)

    def _parse_revision(self, rev: str) -> str | None:
        """`HEAD~2`, `branch^`, `run^2`: a base revision followed by ~N / ^N steps."""
        match = re.fullmatch(r"(.+?)((?:[~^]\d*)+)", rev)
        sha = self.resolve(match.group(1)) if match else None
        if match is None or sha is None:
            return None
        for op, digits in re.findall(r"([~^])(\d*)", match.group(2)):
            n = int(digits) if digits else 1
            for _ in range(n if op == "~" else min(n, 1)):
                parents = self.commit_info(sha)[1]
                index = 0 if op == "~" else n - 1
                if index >= len(parents):
                    return None
                sha = parents[index]
        return sha

    def _peel(self, sha: str) -> str:
        """Follow tags to what they point at (ids as stored: SHA-1 or SHA-256)."""
        from dulwich.objects import Commit

        obj = self.repo.object_store[to_oid(sha)]
        while not isinstance(obj, Commit) and hasattr(obj, "object"):
            sha = obj.object[1].decode()
            obj = self.repo.object_store[obj.object[1]]
        return sha

    def _expand_sha(self, prefix: str) -> str | None:
        from dulwich.objects import Commit

        if len(prefix) == self.hex_length:
            matches = [prefix] if self.has_object(prefix) else []
        else:
            matches = [s.decode() for s in self.repo.object_store.iter_prefix(prefix.encode())] \
                if hasattr(self.repo.object_store, "iter_prefix") else []
        # An annotated tag's id names its commit, as in git.
        peeled = {self._peel(m) for m in matches}
        commits = [c for c in peeled if isinstance(self.repo.object_store[to_oid(c)], Commit)]
        return commits[0] if len(commits) == 1 else None

