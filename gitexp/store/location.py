"""Where a repository is: its folders, read from a few small files before dulwich is loaded.

`gitexp ls` reads refs and the cache index as files and never needs dulwich's
object store; loading dulwich costs it more than the listing itself. So a repository
is first located the way dulwich's `Repo.discover` does (a `.git` folder, a `.git`
file naming the git dir of a linked work tree, or a bare repository), and dulwich
opens it on first use (`GitDB.repo`). A repository whose config could make dulwich
see anything else (a configured work tree, extensions such as SHA-256 objects,
includes, an unknown format version) is opened by dulwich at once, as before.
"""

from __future__ import annotations

import os

from gitexp.slots import Value

_GITFILE = b"gitdir: "
# Config that dulwich's Repo() reads for more than refs and objects: then it opens the repository.
_SPECIAL = (b"worktree", b"extensions", b"include")
_VERSION = b"repositoryformatversion"


class Location(Value):
    """A repository's folders: `path` is what dulwich's `Repo(path)` opens."""

    path: str
    control_dir: str
    common_dir: str
    work_tree: str | None
    plain: bool  # SHA-1 objects, its own work tree, no extension: nothing that needs dulwich to tell

    @property
    def bare(self) -> bool:
        return self.work_tree is None


def config_command(place: Location) -> tuple[str, ...]:
    """(folder, args…) of the `git config --list` GitDB reads the merged config of `place` with."""
    return (place.work_tree or place.control_dir, "--git-dir", place.control_dir, "config", "-z", "--list")


def untracked_command(place: Location) -> tuple[str, ...]:
    """(folder, args…) of the `git ls-files` a snapshot lists the untracked files of `place`'s work tree with."""
    root = place.work_tree or place.control_dir
    return (root, "--git-dir", place.control_dir, "--work-tree", root, "ls-files", "-o", "--exclude-standard", "-z")


def batch_command(git_dir: str) -> tuple[str, ...]:
    """(folder, args…) of the `git cat-file --batch` GitDB reads single objects through (`catfile.Batch`)."""
    return (git_dir, "--git-dir", git_dir, "cat-file", "--batch")


def find_repository(start: str) -> Location | None:
    """The repository containing `start` (the first folder upwards that holds one), or None."""
    path = os.path.realpath(start)
    while True:
        place = repository_at(path)
        if place is not None:
            return place
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def repository_at(root: str) -> Location | None:
    """The repository whose work tree (or, bare, whose git dir) is `root`, as `Repo(root)` sees it."""
    hidden = os.path.join(root, ".git")
    if os.path.isfile(hidden):
        with open(hidden, "rb") as f:
            text = f.read()
        if not text.startswith(_GITFILE):
            return Location(root, hidden, hidden, root, plain=False)  # dulwich says what is wrong
        control, work_tree = os.path.join(root, os.fsdecode(text[len(_GITFILE):].rstrip(b"\r\n"))), root
    elif os.path.isdir(os.path.join(hidden, "objects")):
        control, work_tree = hidden, root
    elif os.path.isdir(os.path.join(root, "objects")) and os.path.isdir(os.path.join(root, "refs")):
        control, work_tree = root, None
    else:
        return None
    try:
        with open(os.path.join(control, "commondir"), "rb") as f:
            common = os.path.join(control, os.fsdecode(f.read().rstrip(b"\r\n")))
    except FileNotFoundError:
        common = control
    return Location(root, control, common, work_tree, plain=_plain_config(common))


def _plain_config(common_dir: str) -> bool:
    try:
        with open(os.path.join(common_dir, "config"), "rb") as f:
            text = f.read().lower()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if any(word in text for word in _SPECIAL):
        return False
    versions = [line.partition(b"=")[2].strip() for line in text.splitlines() if line.strip().startswith(_VERSION)]
    return all(v in (b"0", b"1") for v in versions)
