"""A repository's object database, with no working-tree side effects.

The store is the only package that imports dulwich; object ids leave it as hex
`str`. `GitDB` gathers objects (here), refs (`refs.py`) and revisions (`revparse.py`).
Objects are formatted by `objects.py` and written loose here; they are read from loose
files or through `git cat-file`. dulwich is imported only for what it alone does (a
pack written, an object git declines, a repository git cannot read: `GitDB.repo`), so a
run's start and end, a listing, `show` and `diff` never load it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
import zlib
from collections.abc import Iterator, Sequence
from functools import cached_property

from gitexp.errors import CorruptRecord, DubiousOwnership, GitexpError, NotARepository
from gitexp.slots import Value
from gitexp.store import catfile, objects
from gitexp.store.ids import to_oid
from gitexp.store.location import Location, config_command, find_repository
from gitexp.store.refs import RefsMixin
from gitexp.store.revparse import RevisionsMixin

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a run start's biggest import)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, TypeAlias, TypeVar

    from dulwich.config import StackedConfig
    from dulwich.object_format import ObjectFormat
    from dulwich.objects import ShaFile
    from dulwich.repo import Repo

    T = TypeVar("T", bound="ShaFile")

FILE, EXEC, LINK, DIR, GITLINK = 0o100644, 0o100755, 0o120000, 0o040000, 0o160000
RUNS_PREFIX = "refs/gitexp/runs/"
REMOTES_PREFIX = "refs/gitexp/remotes/"  # remote-tracking runs and records, written only by fetch
LOOSE_COMPRESSION = 1  # git's own default (core.loosecompression): loose objects are packed later anyway
PACK_THRESHOLD = 500  # objects written at once before a pack beats loose files
_LOOSE_ATTEMPTS = 5  # a loose write raced by `git gc` removing its folder is retried


class Entry(Value):
    """One file of a flat tree listing: git mode and blob (or gitlink) id."""

    mode: int
    sha: str


_Folder: TypeAlias = "dict[str, _Folder | Entry]"  # a tree being built: {name: subfolder or file}


def open_repo(path: str | os.PathLike[str] | None = None) -> "GitDB":
    """Open the Git repository git itself would use; raise NotARepository if none.

    With no `path`, as git does: `GIT_DIR` names the repository (its work tree is
    `GIT_WORK_TREE`, else `core.worktree`, else the current folder unless the
    repository is bare); otherwise the repository containing the current folder,
    with `GIT_WORK_TREE` as its work tree when set. With a `path`, the repository
    containing it (the environment is not consulted). A discovered repository
    owned by another user is refused unless `safe.directory` allows it.
    """
    env_dir = os.environ.get("GIT_DIR") if path is None else None
    env_tree = os.environ.get("GIT_WORK_TREE") if path is None else None
    where = os.path.abspath(env_dir or path or ".")
    try:
        if env_dir:
            return GitDB.of(_open_git_dir(env_dir, env_tree))
        place = find_repository(str(path or "."))
        if place is None:
            raise _not_a_repository(where, env_dir)
        if env_tree:
            return _check_ownership(GitDB.of(_open_git_dir(place.control_dir, env_tree)))
        return _check_ownership(GitDB(place) if place.plain else GitDB.of(_dulwich_repo(place.path)))
    except GitexpError:
        raise
    except Exception as exc:  # dulwich raises NotGitRepository, UnsupportedExtension and friends
        if type(exc).__name__ == "NotGitRepository":
            raise _not_a_repository(where, env_dir) from None
        if type(exc).__name__ == "UnsupportedExtension":
            raise GitexpError(f"this repository uses a git extension gitexp cannot read: {exc}") from None
        raise


def _not_a_repository(where: str, env_dir: str | None) -> NotARepository:
    return NotARepository(f"not a git repository: {where}" + (" (from GIT_DIR)" if env_dir else ""),
                          hint="check GIT_DIR" if env_dir else "run 'git init' here, or cd into your project")


def _dulwich_repo(path: str) -> Repo:
    """dulwich's Repo at `path`: a work tree, or a bare repository."""
    from dulwich.repo import Repo

    return Repo(path)


def _open_git_dir(git_dir: str, work_tree: str | None) -> Repo:
    """A repository at an explicit git dir (GIT_DIR), with git's choice of work tree."""
    from dulwich.errors import NotGitRepository

    git_dir = os.path.abspath(git_dir)
    if not os.path.isdir(os.path.join(git_dir, "objects")) and not os.path.isfile(os.path.join(git_dir, "commondir")):
        raise NotGitRepository(git_dir)
    if work_tree is None:
        repo = _repo_at(git_dir, None)
        if not repo.bare:  # core.worktree named it
            return repo
        try:
            bare = repo.get_config().get_boolean((b"core",), b"bare", False)
        except Exception:
            bare = False
        if bare:
            return repo
        repo.close()
        work_tree = os.getcwd()  # GIT_DIR without a work tree: git takes the current folder
    return _repo_at(git_dir, os.path.abspath(work_tree))


def _repo_at(git_dir: str, work_tree: str | None) -> Repo:
    from dulwich.repo import Repo

    try:
        return Repo(controldir=git_dir, worktree=work_tree)
    except TypeError:  # dulwich before controldir=/worktree= (pre 1.x)
        repo = Repo(git_dir)
        if work_tree is not None:
            repo.path, repo.bare = work_tree, False
        return repo


def _check_ownership(db: GitDB) -> GitDB:
    """`db`, unless another user owns it and `safe.directory` does not allow it, as git does.

    git checks the `.git` file (linked work trees), the work tree and the git dir,
    and reads `safe.directory` from the system, global and command-line config
    only, never from the repository's own.
    """
    work_tree = db.place.work_tree
    paths = [p for p in (work_tree, db.place.control_dir) if p]
    if work_tree and os.path.isfile(os.path.join(work_tree, ".git")):
        paths.append(os.path.join(work_tree, ".git"))
    foreign = next((p for p in paths if not _owned_by_current_user(p)), None)
    if foreign is None and os.environ.get("GIT_TEST_ASSUME_DIFFERENT_OWNER", "").lower() not in ("1", "true", "yes"):
        return db
    checked = os.path.realpath(work_tree or db.place.control_dir)
    if _safe_directory(checked):
        return db
    db.close()
    owner = _user(os.stat(foreign).st_uid) if foreign else "another user"
    shown = checked.replace(os.sep, "/")
    raise DubiousOwnership(
        f"detected dubious ownership in repository at '{shown}'",
        hint=f"'{foreign or shown}' is owned by {owner} but the current user is {_user(os.geteuid())}. "
             f"To add an exception for this directory, call:\n\n\tgit config --global --add safe.directory {shown}",
    )


def _owned_by_current_user(path: str) -> bool:
    try:
        uid = os.lstat(path).st_uid
    except OSError:
        return True  # nothing to judge by (git skips it too)
    euid = os.geteuid() if hasattr(os, "geteuid") else uid
    if uid == euid:
        return True
    if euid == 0 and os.environ.get("SUDO_UID", "").isdigit():  # `sudo gitexp …` in one's own repository
        return uid == int(os.environ["SUDO_UID"])
    return False


def _user(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} ({uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _safe_directory(checked: str) -> bool:
    """Whether the protected config (system, global, command line) lists `checked` as safe."""
    safe = False
    for raw in _protected_config_values(b"safe", b"directory"):
        value = raw.decode("utf-8", "surrogateescape")
        if not value:
            safe = False  # an empty value resets the list
        elif value == "*":
            safe = True
        else:
            value = os.path.expanduser(value)
            if value.endswith("/*"):
                prefix = os.path.realpath(value[:-2]).rstrip(os.sep) + os.sep
                safe = safe or (checked + os.sep).startswith(prefix)
            elif os.path.realpath(value) == checked or value.rstrip("/") == checked:
                safe = True
    return safe


def _protected_config_values(section: bytes, name: bytes) -> list[bytes]:
    """Every value of a key in the system, global and command-line config, in git's order."""
    from dulwich.config import ConfigFile, StackedConfig

    values: list[bytes] = []
    for backend in reversed(StackedConfig.default_backends()):  # dulwich lists global first, system last
        with contextlib.suppress(KeyError):
            values.extend(backend.get_multivar((section,), name))
    key = f"{section.decode()}.{name.decode()}"
    params = os.environ.get("GIT_CONFIG_PARAMETERS", "")
    for item in _parse_config_parameters(params):  # `git -c` (when gitexp runs under git)
        k, _, v = item.partition("=")
        if k.lower() == key:
            values.append(v.encode())
    with contextlib.suppress(Exception):
        from dulwich.config import env_config

        extra = env_config(os.environ)
        if isinstance(extra, ConfigFile):
            with contextlib.suppress(KeyError):
                values.extend(extra.get_multivar((section,), name))
    return values


def _parse_config_parameters(text: str) -> list[str]:
    """`GIT_CONFIG_PARAMETERS`: space-separated, single-quoted `'key=value'` items."""
    import shlex

    try:
        return shlex.split(text)
    except ValueError:
        return []


class Settled(Value):
    """What a GitDB read once: the committer identity, and the config (None: not read)."""

    identity: bytes
    sections: dict[str, dict[str, str]] | None
    git_config: bool


class GitDB(RefsMixin, RevisionsMixin):
    """A repository's objects and refs, plus the local `.git/gitexp/` folder."""

    def __init__(self, place: Location, repo: Repo | None = None) -> None:
        self.place = place
        self._repo = repo
        # Folders as `str` (a run start loads no pathlib) and as `Path` (below, made on first use).
        self.local_path = os.path.join(place.common_dir, "gitexp")
        # SHA-1 or SHA-256 (`git init --object-format=sha256`): every id gitexp makes uses it.
        # A repository left to open lazily is SHA-1: its config names no extension (store/location.py).
        self.hex_length: int = getattr(getattr(repo, "object_format", None), "hex_length", 40)
        self._sha1 = self.hex_length == 40
        self._batch: list[objects.GitObject] | None = None
        self._sections: dict[str, dict[str, str]] | None = None  # config section: {key: value}, read by git
        self._git_config = True  # False: git could not read the config, dulwich does
        self._config_stack: StackedConfig | None = None
        self._identity: bytes | None = None
        self._cat: catfile.Batch | None = None

    @cached_property
    def common_dir(self) -> Path:
        """The folder of objects, refs and `gitexp/` (shared by linked worktrees)."""
        return _path(self.place.common_dir)

    @cached_property
    def root(self) -> Path | None:
        """The work tree's top folder; None in a bare repository."""
        return None if self.place.work_tree is None else _path(self.place.work_tree)

    @cached_property
    def local_dir(self) -> Path:
        """This clone's `.git/gitexp/` folder: cache index, journals, reservations."""
        return _path(self.local_path)

    @classmethod
    def of(cls, repo: Repo) -> GitDB:
        """A GitDB on a repository dulwich has opened."""
        work_tree = None if repo.bare else repo.path
        return cls(Location(repo.path, repo.controldir(), repo.commondir(), work_tree, plain=False), repo)

    @property
    def repo(self) -> Repo:
        """dulwich's repository, opened on first use: listing reads refs and the cache without it."""
        if self._repo is None:
            self._repo = _dulwich_repo(self.place.path)
        return self._repo

    @property
    def object_format(self) -> ObjectFormat | None:
        return getattr(self.repo, "object_format", None)

    def make(self, kind: str, data: bytes) -> objects.GitObject:
        """An object of this repository's format (SHA-1 or SHA-256), not written."""
        return objects.make(kind, data, self.hex_length)

    def blob_id(self, data: bytes) -> str:
        """The id a blob with `data` gets here, without writing it."""
        return self.make("blob", data).id

    def is_object_id(self, text: str) -> bool:
        """True if `text` is a full object id of this repository's format (lower-case hex)."""
        return len(text) == self.hex_length and all(c in "0123456789abcdef" for c in text)

    def close(self) -> None:
        if self._cat is not None:
            self._cat.close()
        if self._repo is not None:
            self._repo.close()

    def __enter__(self) -> "GitDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- objects -------------------------------------------------------------
    def add_blob(self, data: bytes) -> str:
        blob = self.make("blob", data)
        self.add_objects([blob])
        return blob.id

    def add_objects(self, objs: Sequence[objects.GitObject]) -> None:
        """Write objects: loose when few (as git does), one pack when many.

        A pack per small write would leave thousands of tiny packs after a sweep,
        each kept open and searched on every read, until the next `git gc`.
        """
        if self._batch is not None:
            self._batch.extend(objs)
        elif len(objs) < PACK_THRESHOLD:
            for obj in objs:
                self._write_loose(obj)
        else:
            self._write_pack(objs)

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Objects written inside the block go to one pack at its end (bulk imports).

        Set refs to them only after the block: until then they are not in the repository.
        """
        if self._batch is not None:
            yield
            return
        pending: list[objects.GitObject] = []
        self._batch = pending
        try:
            yield
        finally:
            self._batch = None
        if pending:
            self._write_pack(pending)

    def _write_pack(self, objs: Sequence[objects.GitObject]) -> None:
        """One pack of `objs`, written by dulwich (rare: bulk writes)."""
        from dulwich.objects import ShaFile

        fmt = None if self._sha1 else self.object_format
        self.repo.object_store.add_objects([
            (ShaFile.from_raw_string(objects.TYPE_NUMBERS[o.kind], o.data, object_format=fmt), None) for o in objs])

    def _write_loose(self, obj: objects.GitObject) -> None:
        """Write one loose object through a unique temp file and a rename, as git does.

        dulwich's own writer takes an O_EXCL `<object>.lock`, so two processes
        writing the same object at once (eight runs with empty tags) collide, and
        a writer killed mid-write blocks that object forever. Objects are
        content-addressed: whichever complete copy lands last is the same.
        """
        path = os.path.join(self.place.common_dir, "objects", obj.id[:2], obj.id[2:])
        try:
            os.utime(path)  # already there: refresh its mtime so gc does not prune it early
            return
        except FileNotFoundError:
            pass
        data = obj.loose(LOOSE_COMPRESSION)
        for attempt in range(_LOOSE_ATTEMPTS):
            try:
                _write_file(path, data)
                return
            except FileNotFoundError:
                # A concurrent `git gc`/`git prune` removed the (empty) fan-out folder
                # between mkdir and mkstemp, or pruned our temp file: write it again.
                if attempt == _LOOSE_ATTEMPTS - 1:
                    raise

    def has_object(self, sha: str) -> bool:
        if len(sha) != self.hex_length:
            return False
        return to_oid(sha) in self.repo.object_store

    def object_size(self, sha: str) -> int | None:
        """An object's inflated size from its header alone (None when it cannot tell).

        Lets a reader refuse a small blob that would inflate to gigabytes before
        dulwich inflates it whole.
        """
        store = self.repo.object_store
        if getattr(store, "path", None):
            try:
                with open(os.path.join(store.path, sha[:2], sha[2:]), "rb") as f:
                    head = zlib.decompressobj().decompress(f.read(512), 64)
                return int(head.split(b" ", 1)[1].split(b"\0", 1)[0])
            except FileNotFoundError:
                pass
            except (ValueError, IndexError, zlib.error, OSError):
                return None
        try:
            binary = bytes.fromhex(sha)
            for pack in getattr(store, "packs", ()):
                try:
                    offset = pack.index.object_offset(binary)
                except KeyError:
                    continue
                return _packed_size(pack.data.filename, offset, self.hex_length // 2)
        except (ValueError, OSError, zlib.error, AttributeError, _pack_gone()):
            return None  # e.g. `git gc` replaced the pack meanwhile: the caller reads the object whole
        return None

    def read_blob(self, sha: str, limit: int | None = None) -> bytes:
        """A blob's bytes; with `limit`, refuse (CorruptRecord) a larger blob before inflating it."""
        # A loose blob in one read and one bounded inflate (its header gives the
        # size): listing reads four per run, and dulwich would read each twice.
        data = self._read_loose(sha, "blob", limit)
        if data is not None:
            return data
        try:
            raw = self._git_read(sha, "blob", limit)
        except ValueError as exc:
            raise CorruptRecord(f"object {sha[:12]} is {exc}, over the {(limit or 0) >> 20} MiB limit") from None
        if raw is not None:
            return raw
        if limit is not None:
            size = self.object_size(sha)
            if size is not None and size > limit:
                raise CorruptRecord(f"object {sha[:12]} is {size} bytes, over the {limit >> 20} MiB limit")
        from dulwich.objects import Blob

        obj = self.repo.object_store[to_oid(sha)]
        if not isinstance(obj, Blob):
            raise GitexpError(f"object {sha} is not a file")
        if limit is not None and len(obj.data) > limit:
            raise CorruptRecord(f"object {sha[:12]} is {len(obj.data)} bytes, over the {limit >> 20} MiB limit")
        return obj.data

    def write_tree(self, files: dict[str, Entry]) -> str:
        """Write nested trees for a flat {path: Entry} mapping; return the root tree id."""
        trees = self.build_trees(files)
        self.add_objects(trees)
        return trees[-1].id

    def build_trees(self, files: dict[str, Entry]) -> list[objects.GitObject]:
        """The nested tree objects of a flat {path: Entry} mapping, root last, not written.

        A path that is both a file and a folder (`a` and `a/b`) is refused loudly:
        a tree can hold only one of them, and dropping one would lose data.
        """
        root: _Folder = {}
        for path, entry in files.items():
            node = root
            *dirs, name = path.split("/")
            for n, part in enumerate(dirs):
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise _clash("/".join(dirs[: n + 1]), path)
                node = child
            here = node.get(name)
            if isinstance(here, dict):
                raise _clash(path, _first_file(here, path))
            node[name] = entry
        trees: list[objects.GitObject] = []
        self._build(root, trees)
        return trees

    def _build(self, node: _Folder, out: list[objects.GitObject]) -> str:
        entries = [(name, DIR, self._build(child, out)) if isinstance(child, dict) else (name, child.mode, child.sha)
                   for name, child in node.items()]
        return self.tree_object(entries, out).id

    def tree_object(self, entries: list[tuple[str, int, str]],
                    out: list[objects.GitObject] | None = None) -> objects.GitObject:
        """The tree of (name, mode, id) entries, not written (appended to `out` when given)."""
        tree = self.make("tree", objects.tree_data(entries))
        if out is not None:
            out.append(tree)
        return tree

    def list_tree(self, tree_sha: str, prefix: str = "") -> dict[str, Entry]:
        """Flatten a tree into {path: Entry} (files, links and gitlinks)."""
        out: dict[str, Entry] = {}
        for name, mode, sha in self.tree_entries(tree_sha):
            path = prefix + name
            if stat.S_ISDIR(mode):
                out.update(self.list_tree(sha, path + "/"))
            else:
                out[path] = Entry(mode, sha)
        return out

    def tree_entries(self, tree_sha: str) -> list[tuple[str, int, str]]:
        """(name, mode, id) of each direct entry of a tree."""
        raw = self._git_read(tree_sha, "tree")
        if raw is not None:
            with contextlib.suppress(ValueError):  # a malformed tree: dulwich says what is wrong
                entries = catfile.tree_entries(raw, self.hex_length // 2)
                return [(name, mode, sha) for name, (mode, sha) in entries.items()]
        from dulwich.objects import Tree

        return [(item.path.decode("utf-8", "surrogateescape"), item.mode, item.sha.decode())
                for item in self.read_object(tree_sha, Tree).iteritems()]

    def subtree(self, tree_sha: str, path: str) -> str | None:
        """The id of the tree at `path` inside `tree_sha`, or None."""
        if self._lite:
            found: str | None = tree_sha
            for name in path.split("/"):
                try:  # an absent or unreadable tree is no folder, as for dulwich's lookup below
                    entry = next((e for e in self.tree_entries(found) if e[0] == name), None) if found else None
                except Exception:
                    return None
                found = entry[2] if entry and stat.S_ISDIR(entry[1]) else None
            return found
        from dulwich.object_store import tree_lookup_path

        try:
            mode, sha = tree_lookup_path(self.repo.object_store.__getitem__, to_oid(tree_sha), path.encode())
        except (KeyError, Exception):
            return None
        return sha.decode() if stat.S_ISDIR(mode) else None

    def write_commit(self, tree: str, parents: list[str], message: str, when: float | None = None) -> str:
        """Write a commit object with the user's identity; return its id."""
        text = message if message.endswith("\n") else message + "\n"
        stamp = int(time.time() if when is None else when)
        commit = self.make("commit", objects.commit_data(tree, parents, self.identity(), stamp, text.encode()))
        self.add_objects([commit])
        return commit.id

    def identity(self) -> bytes:
        """The committer identity for commits and reflogs (settled once per GitDB), as dulwich's
        `get_user_identity` finds it: `GIT_COMMITTER_NAME`/`_EMAIL`, `user.name`/`.email`, the account."""
        if self._identity is None:
            name, email = os.environ.get("GIT_COMMITTER_NAME"), os.environ.get("GIT_COMMITTER_EMAIL")
            name = self.config("user", "name") if name is None else name
            email = self.config("user", "email") if email is None else email
            self._identity = _identity(name, email)
        return self._identity

    def settled(self) -> Settled:
        """The identity and the config this GitDB has read, for a later GitDB of this process (`adopt`)."""
        return Settled(self.identity(), self._sections, self._git_config)

    def adopt(self, settled: Settled) -> None:
        """Commit as, and read the config as, another GitDB of this process did (a run's end takes
        its start's), without running git for the config again."""
        self._identity = settled.identity
        if settled.sections is not None:
            self._sections, self._git_config = settled.sections, settled.git_config

    def config_stack(self) -> StackedConfig:
        """dulwich's merged git config, read once per GitDB: a command's (or request's) view.

        dulwich reads every config file again on each call: a run start asked it
        for the identity and settings eleven times.
        """
        if self._config_stack is None:
            self._config_stack = self.repo.get_config_stack()
        return self._config_stack

    def commit_info(self, sha: str) -> tuple[str, list[str]]:
        """(tree id, parent ids) of a commit."""
        raw = self._git_read(sha, "commit")
        head = raw.partition(b"\n\n")[0].split(b"\n") if raw is not None else []
        if head and head[0].startswith(b"tree "):
            parents = [line[7:].decode() for line in head[1:] if line.startswith(b"parent ")]
            return head[0][5:].decode(), parents
        from dulwich.objects import Commit

        commit = self.read_object(sha, Commit)
        return commit.tree.decode(), [p.decode() for p in commit.parents]

    def commit_author(self, sha: str) -> str:
        """A commit's author, `Name <email>`."""
        from dulwich.objects import Commit

        return self.read_object(sha, Commit).author.decode("utf-8", "replace")

    @property
    def _lite(self) -> bool:
        """Whether objects are read through `git cat-file` (a SHA-1 repository dulwich has not opened)."""
        return self._repo is None and self.place.plain

    def _git_read(self, sha: str, kind: str, limit: int | None = None) -> bytes | None:
        """Object `sha` through `git cat-file` before dulwich is loaded; None to read it through dulwich.

        dulwich reads what this declines (an absent object, another type, no git) and
        says what is wrong as before; an object over `limit` raises ValueError unread.
        """
        if not self._lite or not self.is_object_id(sha):
            return None
        if kind != "blob":  # (read_blob has looked): what a run wrote is loose, read with no git process
            data = self._read_loose(sha, kind)
            if data is not None:
                return data
        if self._cat is None:
            self._cat = catfile.Batch(self.place.common_dir)
        try:
            found, data = self._cat.read(sha, limit)
        except catfile.CatFileError:
            return None
        return data if found == kind else None

    def _read_loose(self, sha: str, kind: str, limit: int | None = None) -> bytes | None:
        """A loose object's content (`kind` only), or None when it is not loose (or not readable this way)."""
        if len(sha) != self.hex_length:
            return None
        return _read_loose(os.path.join(self.place.common_dir, "objects", sha[:2], sha[2:]), sha, kind, limit)

    def read_object(self, sha: str, kind: type[T]) -> T:
        """The object `sha`, which must be a `kind` (Tree, Commit…); KeyError when it is absent."""
        obj = self.repo.object_store[to_oid(sha)]
        if not isinstance(obj, kind):
            raise GitexpError(f"object {sha} is not a {kind.type_name.decode()}")
        return obj

    def config(self, section: str, key: str) -> str | None:
        """A value from the merged git config (`gitexp.<key>`, or `remote.<name>.<key>` with a
        subsection), or None.

        Read as git reads it (includes, `-c`, every scope) by one `git config --list` per
        GitDB, which also spares dulwich's repository; through dulwich where git is not
        installed or refuses the config (dulwich then says what is wrong).
        """
        if self._sections is None:
            self._sections = self._read_config()
        if section not in self._sections and not self._git_config:
            items = _section_items(self.config_stack(), section.encode())
            self._sections[section] = {k.decode().lower(): v.decode() for k, v in items}
        return self._sections.get(section, {}).get(key.lower())

    def _read_config(self) -> dict[str, dict[str, str]]:
        """{section: {key: value}} of the whole merged config; {} when git cannot read it."""
        from gitexp.store import gitproc

        place = self.place
        try:
            code, out, _ = gitproc.run(*config_command(place))
        except gitproc.GitCommandError:  # no git
            code, out = -1, b""
        if code != 0:
            self._git_config = False
            return {}
        sections: dict[str, dict[str, str]] = {}
        for item in out.decode("utf-8", "surrogateescape").split("\0"):
            name, newline, value = item.partition("\n")
            section, dot, key = name.rpartition(".")
            if dot:  # the last value of a key wins, as for git; a bare `key` line is true to git
                sections.setdefault(section, {})[key] = value if newline else "true"
        return sections


def _identity(name: str | None, email: str | None) -> bytes:
    """`Name <email>`, the account's name or address (dulwich's defaults) where one is missing."""
    if name is None or email is None:
        try:
            from dulwich.repo import _get_default_identity  # the account's name and host: rare

            default_name, default_email = _get_default_identity()
        except Exception:
            return b"gitexp <gitexp@localhost>"
        name = default_name if name is None else name
        email = default_email if email is None else email
    if email.startswith("<") and email.endswith(">"):
        email = email[1:-1]
    return f"{name} <{email}>".encode("utf-8", "surrogateescape")


def _section_items(stack: Any, section: bytes) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a config section (`remote.origin`: a subsection) in dulwich's stack,
    the nearer scope last."""
    items: list[tuple[bytes, bytes]] = []
    for backend in reversed(stack.backends):
        with contextlib.suppress(KeyError):
            items.extend(backend.items(tuple(section.split(b".", 1))))
    return items


def blob_id(data: bytes) -> str:
    """The SHA-1 id a blob with `data` gets in git (see GitDB.blob_id for any repository)."""
    return objects.make("blob", data).id


def _pack_gone() -> type[Exception]:
    from dulwich.pack import PackFileDisappeared

    return PackFileDisappeared


def _path(folder: str) -> Path:
    from pathlib import Path  # here: a run's start and end use the `str` folders

    return Path(folder)


def _write_file(path: str, data: bytes) -> None:
    """Write a loose object through a unique temp file and a rename, read-only as git leaves it."""
    from gitexp.store.atomic import write_atomic  # here: opening a repository to read needs no tempfile

    write_atomic(path, data, prefix="tmp_obj_", mode=0o444)


def _read_loose(path: str, sha: str, kind: str, limit: int | None) -> bytes | None:
    """A loose object's content, or None when it is not loose (or not readable this way), or
    not a `kind` (a blob expected where another object is: GitexpError)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        inflate = zlib.decompressobj()
        head = inflate.decompress(raw, 64)
        found, _, rest = head.partition(b" ")
        size_text, nul, body = rest.partition(b"\0")
        if not nul:
            return None
        size = int(size_text)
    except (zlib.error, ValueError):
        return None
    if found != kind.encode():
        if kind == "blob":
            raise GitexpError(f"object {sha} is not a file")
        return None
    if limit is not None and size > limit:
        raise CorruptRecord(f"object {sha[:12]} is {size} bytes, over the {limit >> 20} MiB limit")
    try:
        if len(body) < size:
            body += inflate.decompress(inflate.unconsumed_tail, size - len(body))
    except zlib.error:
        return None
    return body if len(body) == size else None


def _packed_size(pack_file: str, offset: int, hash_bytes: int) -> int:
    """Inflated size of the pack entry at `offset`; for a delta, the size of its result."""
    with open(pack_file, "rb") as f:
        f.seek(offset)
        head = f.read(64 + hash_bytes)
    byte = head[0]
    kind, size, shift, i = (byte >> 4) & 7, byte & 15, 4, 1
    while byte & 0x80:
        byte = head[i]
        size |= (byte & 0x7F) << shift
        shift, i = shift + 7, i + 1
    if kind not in (6, 7):  # a whole object: the header has its size
        return size
    if kind == 6:  # offset delta: skip the base offset
        while head[i] & 0x80:
            i += 1
        i += 1
    else:  # ref delta: skip the base id
        i += hash_bytes
    with open(pack_file, "rb") as f:
        f.seek(offset + i)
        delta = zlib.decompressobj().decompress(f.read(256), 32)
    _, j = _varint(delta, 0)  # base size
    return _varint(delta, j)[0]  # result size


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        shift, i = shift + 7, i + 1
        if not byte & 0x80:
            return value, i


def _clash(file_path: str, other: str) -> GitexpError:
    return GitexpError(
        f"path conflict in tree: {file_path!r} is a file and also a folder of {other!r}",
        hint="two keys or artifact paths map onto the same place; rename one of them",
    )


def _first_file(node: _Folder, prefix: str) -> str:
    """Some file path under a folder node (to name it in an error)."""
    name, child = next(iter(node.items()))
    return _first_file(child, f"{prefix}/{name}") if isinstance(child, dict) and child else f"{prefix}/{name}"


