"""The Git object database and refs, through dulwich, with no working-tree side effects.

This is the only module family that imports dulwich. Object ids leave it as hex `str`.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dulwich.errors import NotGitRepository
from dulwich.file import FileLocked
from dulwich.objects import Blob, Commit, ShaFile, Tree
from dulwich.object_store import tree_lookup_path
from dulwich.repo import Repo, get_user_identity

from gitexp.errors import ConcurrentUpdate, GitexpError, NotARepository

FILE, EXEC, LINK, DIR, GITLINK = 0o100644, 0o100755, 0o120000, 0o040000, 0o160000
RUNS_PREFIX = "refs/gitexp/runs/"
PACK_THRESHOLD = 500  # objects written at once before a pack beats loose files


@dataclass(frozen=True)
class Entry:
    """One file of a flat tree listing: git mode and blob (or gitlink) id."""

    mode: int
    sha: str


def open_repo(path: str | os.PathLike[str] = ".") -> "GitDB":
    """Open the Git repository containing `path`; raise NotARepository if none."""
    try:
        return GitDB(Repo.discover(str(path)))
    except NotGitRepository:
        raise NotARepository(
            f"not a git repository: {os.path.abspath(path)}",
            hint="run 'git init' here, or cd into your project",
        ) from None
    except Exception as exc:  # dulwich raises UnsupportedExtension and friends
        if type(exc).__name__ == "UnsupportedExtension":
            raise GitexpError(f"this repository uses a git extension gitexp cannot read: {exc}") from None
        raise


class GitDB:
    """A repository's objects and refs, plus the local `.git/gitexp/` folder."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.common_dir = Path(repo.commondir())
        self.root = None if repo.bare else Path(repo.path)
        self.local_dir = self.common_dir / "gitexp"

    def close(self) -> None:
        self.repo.close()

    def __enter__(self) -> "GitDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- objects -------------------------------------------------------------
    def add_blob(self, data: bytes) -> str:
        blob = Blob.from_string(data)
        self.add_objects([blob])
        return blob.id.decode()

    def add_objects(self, objects: list) -> None:
        """Write objects: loose when few (as git does), one pack when many.

        A pack per small write would leave thousands of tiny packs after a sweep,
        each kept open and searched on every read, until the next `git gc`.
        """
        if len(objects) < PACK_THRESHOLD:
            for obj in objects:
                self._write_loose(obj)
        else:
            self.repo.object_store.add_objects([(obj, None) for obj in objects])

    def _write_loose(self, obj: ShaFile) -> None:
        """Write one loose object through a unique temp file and a rename, as git does.

        dulwich's own writer takes an O_EXCL `<object>.lock`, so two processes
        writing the same object at once (eight runs with empty tags) collide, and
        a writer killed mid-write blocks that object forever. Objects are
        content-addressed: whichever complete copy lands last is the same.
        """
        sha = obj.id.decode()
        path = Path(self.repo.object_store.path) / sha[:2] / sha[2:]
        try:
            os.utime(path)  # already there: refresh its mtime so gc does not prune it early
            return
        except FileNotFoundError:
            pass
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="tmp_obj_")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(obj.as_legacy_object())
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def has_object(self, sha: str) -> bool:
        return sha.encode() in self.repo.object_store

    def read_blob(self, sha: str) -> bytes:
        obj = self.repo.object_store[sha.encode()]
        if not isinstance(obj, Blob):
            raise GitexpError(f"object {sha} is not a file")
        return obj.data

    def write_tree(self, files: dict[str, Entry]) -> str:
        """Write nested trees for a flat {path: Entry} mapping; return the root tree id."""
        root: dict = {}
        for path, entry in files.items():
            node = root
            *dirs, name = path.split("/")
            for part in dirs:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise GitexpError(f"path conflict in tree at {path!r}")
            node[name] = entry
        trees: list[Tree] = []
        root_id = self._build(root, trees)
        self.add_objects(trees)
        return root_id

    def _build(self, node: dict, out: list[Tree]) -> str:
        tree = Tree()
        for name, child in node.items():
            if isinstance(child, dict):
                tree.add(name.encode(), DIR, self._build(child, out).encode())
            else:
                tree.add(name.encode(), child.mode, child.sha.encode())
        out.append(tree)
        return tree.id.decode()

    def list_tree(self, tree_sha: str, prefix: str = "") -> dict[str, Entry]:
        """Flatten a tree into {path: Entry} (files, links and gitlinks)."""
        out: dict[str, Entry] = {}
        tree = self.repo.object_store[tree_sha.encode()]
        for item in tree.iteritems():
            path = prefix + item.path.decode("utf-8", "surrogateescape")
            if stat.S_ISDIR(item.mode):
                out.update(self.list_tree(item.sha.decode(), path + "/"))
            else:
                out[path] = Entry(item.mode, item.sha.decode())
        return out

    def subtree(self, tree_sha: str, path: str) -> str | None:
        """The id of the tree at `path` inside `tree_sha`, or None."""
        try:
            mode, sha = tree_lookup_path(self.repo.object_store.__getitem__, tree_sha.encode(), path.encode())
        except (KeyError, Exception):
            return None
        return sha.decode() if stat.S_ISDIR(mode) else None

    def write_commit(self, tree: str, parents: list[str], message: str, when: float | None = None) -> str:
        """Write a commit object with the user's identity; return its id."""
        ident = self.identity()
        ts = int(time.time() if when is None else when)
        commit = Commit()
        commit.tree = tree.encode()
        commit.parents = [p.encode() for p in parents]
        commit.author = commit.committer = ident
        commit.author_time = commit.commit_time = ts
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = message.encode() if message.endswith("\n") else (message + "\n").encode()
        self.add_objects([commit])
        return commit.id.decode()

    def identity(self) -> bytes:
        try:
            return get_user_identity(self.repo.get_config_stack(), kind="COMMITTER")
        except Exception:
            return b"gitexp <gitexp@localhost>"

    def commit_info(self, sha: str) -> tuple[str, list[str]]:
        """(tree id, parent ids) of a commit."""
        commit = self.repo.object_store[sha.encode()]
        if not isinstance(commit, Commit):
            raise GitexpError(f"object {sha} is not a commit")
        return commit.tree.decode(), [p.decode() for p in commit.parents]

    # -- refs ----------------------------------------------------------------
    def read_ref(self, ref: str) -> str | None:
        try:
            return self.repo.refs[ref.encode()].decode()
        except KeyError:
            return None

    def set_ref(self, ref: str, old: str | None, new: str, message: str) -> None:
        """Compare-and-swap `ref` from `old` (None: must not exist) to `new`."""
        name, msg = ref.encode(), b"gitexp: " + message.encode()
        self._reflog_folder(ref)
        try:
            if old is None:
                ok = self.repo.refs.add_if_new(name, new.encode(), message=msg)
            else:
                ok = self.repo.refs.set_if_equals(name, old.encode(), new.encode(), message=msg)
        except FileLocked:
            raise self._locked(ref) from None
        if not ok:
            raise ConcurrentUpdate(f"{ref} changed while gitexp was updating it", hint="retry the command")

    def _reflog_folder(self, ref: str) -> None:
        """Create the reflog's folder first: dulwich creates it after moving the ref,
        without exist_ok, so two processes logging their first run of an experiment
        at once could see the ref updated and yet get FileExistsError."""
        (self.common_dir / "logs" / ref).parent.mkdir(parents=True, exist_ok=True)

    def _locked(self, ref: str) -> ConcurrentUpdate:
        return ConcurrentUpdate(
            f"{ref} is locked by another writer",
            hint=f"retry; if no gitexp process is running, delete {self.common_dir / ref}.lock",
        )

    def delete_ref(self, ref: str, old: str, message: str) -> None:
        """Compare-and-delete `ref` (it must still point at `old`)."""
        self._reflog_folder(ref)
        try:
            ok = self.repo.refs.remove_if_equals(ref.encode(), old.encode(), message=b"gitexp: " + message.encode())
        except FileLocked:
            raise self._locked(ref) from None
        if not ok:
            raise ConcurrentUpdate(f"{ref} changed while gitexp was removing it", hint="retry the command")

    def refs_under(self, prefix: str, dir_cache: "DirCache | None" = None) -> dict[str, str]:
        """{full ref name: sha} for every ref under `prefix` (which ends in '/').

        Reads loose ref files and packed-refs directly: far cheaper than dulwich's
        generic path when there are thousands of run refs. With `dir_cache`, a
        folder whose mtime has not moved is not read again: git and dulwich update
        loose refs by renaming a lock file into place, which always touches it.
        """
        out = self._packed_refs(prefix)
        for dirpath, _dirs, files in os.walk(self.common_dir / prefix):
            rel = Path(dirpath).relative_to(self.common_dir).as_posix()
            mtime = os.stat(dirpath).st_mtime_ns if dir_cache is not None else 0
            found = dir_cache.get(rel, mtime) if dir_cache is not None else None
            if found is None:
                found = _read_loose(dirpath, rel, files)
                if dir_cache is not None:
                    dir_cache.put(rel, mtime, found)
            out.update(found)
        return out

    def _packed_refs(self, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            with open(self.common_dir / "packed-refs", "rb") as f:
                for line in f:
                    if line[:1] in (b"#", b"^"):
                        continue
                    sha, _, name = line.rstrip(b"\n").partition(b" ")
                    ref = name.decode("utf-8", "replace")
                    if ref.startswith(prefix):
                        out[ref] = sha.decode()
        except FileNotFoundError:
            pass
        return out

    def head(self) -> str | None:
        """The commit HEAD points at, or None in a repository with no commits."""
        try:
            return self.repo.head().decode()
        except KeyError:
            return None

    def resolve(self, rev: str) -> str | None:
        """Resolve a ref name, branch, tag or full/abbreviated commit id to a commit id."""
        for name in (rev, f"refs/heads/{rev}", f"refs/tags/{rev}", f"refs/remotes/{rev}"):
            if name.startswith("refs/") or name == "HEAD":
                sha = self.read_ref(name)
                if sha:
                    return self._peel(sha)
        if 4 <= len(rev) <= 40 and all(c in "0123456789abcdef" for c in rev.lower()):
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
        obj = self.repo.object_store[sha.encode()]
        while not isinstance(obj, Commit) and hasattr(obj, "object"):
            obj = self.repo.object_store[obj.object[1]]
        return obj.id.decode()

    def _expand_sha(self, prefix: str) -> str | None:
        if len(prefix) == 40:
            return prefix if self.has_object(prefix) else None
        matches = [s.decode() for s in self.repo.object_store.iter_prefix(prefix.encode())] \
            if hasattr(self.repo.object_store, "iter_prefix") else []
        commits = [m for m in matches if isinstance(self.repo.object_store[m.encode()], Commit)]
        return commits[0] if len(commits) == 1 else None

    def config(self, section: str, key: str) -> str | None:
        """A value from the merged git config (`gitexp.<key>` style), or None."""
        try:
            return self.repo.get_config_stack().get((section.encode(),), key.encode()).decode()
        except KeyError:
            return None


class DirCache(Protocol):
    """Remembers the refs of a folder for one mtime (see GitDB.refs_under)."""

    def get(self, folder: str, mtime_ns: int) -> dict[str, str] | None: ...

    def put(self, folder: str, mtime_ns: int, refs: dict[str, str]) -> None: ...


def blob_id(data: bytes) -> str:
    """The id a blob with `data` gets in git, without writing it."""
    return Blob.from_string(data).id.decode()


def _read_loose(dirpath: str, rel: str, files: list[str]) -> dict[str, str]:
    found = {}
    for name in files:
        if name.endswith(".lock"):
            continue
        try:
            with open(os.path.join(dirpath, name), "rb") as f:
                value = f.read(100).strip()
        except OSError:
            continue
        if len(value) == 40:
            found[f"{rel}/{name}"] = value.decode()
    return found
