"""A repository as git's hooks see it, read through the `git` command alone (no dulwich).

A git hook runs inside every commit: importing dulwich costs more than everything
the hook does. What it needs is few things: where the repository is and its HEAD
(one `git rev-parse`), a few config values (one `git config`), and some commit and
tree objects, read from one `git cat-file --batch` process for the whole hook.
git also settles what dulwich would be asked to mimic: GIT_DIR, GIT_WORK_TREE,
linked worktrees, safe.directory, includes in config.
"""

from __future__ import annotations

import os

from gitexp.errors import DubiousOwnership, GitexpError, NotARepository
from gitexp.store import gitproc

Items = dict[bytes, tuple[int, bytes]]
ID_LENGTH = 16  # names.ID_LENGTH
_B32 = set("0123456789abcdefghjkmnpqrstvwxyz")  # names._B32


def is_run_id(text: str) -> bool:
    """names.is_run_id, without importing names (its `secrets` module costs a hook milliseconds)."""
    return isinstance(text, str) and len(text) == ID_LENGTH and all(c in _B32 for c in text)


class HookRepo:
    """The repository containing `path`, as `git` finds it: root, git dirs, HEAD, config, objects."""

    def __init__(self, path: str = ".") -> None:
        cwd = os.path.abspath(path)
        _, out, err = gitproc.run(cwd, "rev-parse", "--path-format=absolute", "--absolute-git-dir", "--git-common-dir",
                                  "--is-bare-repository", "--show-toplevel", "--verify", "-q", "HEAD")
        lines = out.decode("utf-8", "surrogateescape").splitlines()
        if len(lines) < 3:
            said = err.decode("utf-8", "replace").strip()
            if "dubious ownership" in said:
                raise DubiousOwnership(said.splitlines()[0].removeprefix("fatal: "),
                                       hint="git config --global --add safe.directory <path>, as git says")
            raise NotARepository(f"not a git repository: {cwd}",
                                 hint="run 'git init' here, or cd into your project")
        # Paths as text: a commit should not wait for pathlib to load.
        self.git_dir = lines[0]  # this worktree's own git dir
        self.common_dir = lines[1]  # shared by linked worktrees: refs, objects, gitexp's local state
        self.local_dir = os.path.join(self.common_dir, "gitexp")
        bare = lines[2] == "true"
        self.root: str | None = lines[3] if not bare and len(lines) > 3 and lines[3] else None
        self.head: str | None = lines[4] if self.root is not None and len(lines) > 4 else None  # None: unborn
        self._config: dict[str, str] | None = None
        self._objects: ObjectReader | None = None

    def config(self, name: str) -> str | None:
        """The value of `gitexp.hooks.<key>` or `core.commentchar` (names as git canonicalises them)."""
        if self._config is None:
            self._config = {}
            _, out, _ = gitproc.run(self.root or self.git_dir, "config", "-z", "--get-regexp",
                                    r"^(gitexp\.hooks\.(strict|record)|core\.commentchar)$")
            for item in out.decode("utf-8", "surrogateescape").split("\0"):
                if item:
                    key, newline, value = item.partition("\n")
                    self._config[key] = value if newline else "true"  # a bare `key` line is true to git
        return self._config.get(name)

    @property
    def objects(self) -> ObjectReader:
        if self._objects is None:
            self._objects = ObjectReader(self.root or self.git_dir)
        return self._objects

    def close(self) -> None:
        if self._objects is not None:
            self._objects.close()
            self._objects = None

    def __enter__(self) -> HookRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObjectReader:
    """Objects read through one `git cat-file --batch` process."""

    def __init__(self, cwd: str) -> None:
        self._cwd = cwd
        self._proc: gitproc.Process | None = None

    def read(self, sha: str) -> tuple[str, bytes]:
        """(type, content) of an object; GitexpError when the repository lacks it."""
        if self._proc is None:
            self._proc = gitproc.start(self._cwd, "cat-file", "--batch", stdin=True, stderr=False)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(sha.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().split()
        if len(header) != 3:
            raise GitexpError(f"object {sha} is not in the repository")
        size = int(header[2])
        data = self._proc.stdout.read(size + 1)[:size]
        return header[1].decode(), data

    def tree_items(self, sha: bytes | None) -> Items:
        """{name: (mode, hex id)} of a tree; {} for None or an object that is not a tree."""
        if sha is None:
            return {}
        kind, data = self.read(sha.decode())
        if kind != "tree":
            return {}
        items: Items = {}
        width = 20 if len(sha) == 40 else 32  # SHA-1 or SHA-256 repository
        pos, end = 0, len(data)
        while pos < end:
            space = data.index(b" ", pos)
            nul = data.index(b"\0", space)
            items[data[space + 1:nul]] = (int(data[pos:space], 8), data[nul + 1:nul + 1 + width].hex().encode())
            pos = nul + 1 + width
        return items

    def commit_tree_and_time(self, commit: str) -> tuple[str, int]:
        """(tree id, committer time in seconds) of a commit."""
        kind, data = self.read(commit)
        if kind != "commit":
            raise GitexpError(f"object {commit} is not a commit")
        tree, when = None, None
        for line in data.split(b"\n"):
            if not line:
                break  # the message follows the headers
            if line.startswith(b"tree "):
                tree = line[5:].decode()
            elif line.startswith(b"committer "):
                when = int(line.rsplit(b" ", 2)[-2])
        if tree is None or when is None:
            raise GitexpError(f"malformed commit {commit}")
        return tree, when

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
