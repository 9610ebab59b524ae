"""Objects gitexp formats itself (store/objects.py) are byte for byte git's, in SHA-1 and SHA-256."""

from __future__ import annotations

import os
import subprocess
import zlib
from pathlib import Path

import pytest

from gitexp.store import objects
from gitexp.store.repo import DIR, EXEC, FILE, GITLINK, LINK, Entry, open_repo
from tests.helpers import git


@pytest.fixture(params=["sha1", "sha256"])
def any_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """An empty repository of each object format."""
    path = tmp_path / request.param
    git(tmp_path, "init", "-q", f"--object-format={request.param}", str(path))
    return path


def git_bytes(cwd: Path, *args: str, data: bytes = b"", env: dict[str, str] | None = None) -> bytes:
    proc = subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True, check=True,
                          env={**os.environ, **(env or {})})
    return proc.stdout


def test_blobs_are_what_git_hash_object_makes(any_repo: Path) -> None:
    with open_repo(any_repo) as db:
        for data in (b"", b"hello\n", bytes(range(256)) * 40, "é\0x".encode()):
            sha = db.add_blob(data)
            assert sha == git_bytes(any_repo, "hash-object", "--stdin", data=data).decode().strip()
            assert git_bytes(any_repo, "cat-file", "blob", sha) == data
    git(any_repo, "fsck", "--strict", "--no-dangling")  # raises on any error


def test_loose_files_inflate_to_gits_header_and_content(any_repo: Path) -> None:
    with open_repo(any_repo) as db:
        sha = db.add_blob(b"x" * 1000)
    raw = zlib.decompress((any_repo / ".git" / "objects" / sha[:2] / sha[2:]).read_bytes())
    assert raw == b"blob 1000\0" + b"x" * 1000


def test_trees_are_what_git_write_tree_makes_in_gits_entry_order(any_repo: Path, tmp_path: Path) -> None:
    """Names that sort differently as files and as folders (`a`, `a.txt`, `a0`, `a-b`), every mode."""
    with open_repo(any_repo) as db:
        blob, other = db.add_blob(b"one\n"), db.add_blob(b"two\n")
        link = db.add_blob(b"a.txt")
        commit = db.write_commit(db.write_tree({"f": Entry(FILE, blob)}), [], "sub")
        files = {"a.txt": Entry(FILE, blob), "a/b": Entry(FILE, other), "a/c/d": Entry(EXEC, blob),
                 "a0": Entry(FILE, other), "a-b": Entry(LINK, link), "a.b/x": Entry(FILE, blob),
                 "z": Entry(GITLINK, commit), "é ü": Entry(FILE, other), "B": Entry(FILE, blob)}
        ours = db.write_tree(files)
    index = {"GIT_INDEX_FILE": str(tmp_path / "index")}
    for path, entry in files.items():
        git_bytes(any_repo, "update-index", "--add", "--cacheinfo", f"{entry.mode:o},{entry.sha},{path}", env=index)
    assert ours == git_bytes(any_repo, "write-tree", env=index).decode().strip()
    git(any_repo, "fsck", "--strict", "--no-dangling")  # raises on any error


def test_one_tree_is_what_git_mktree_makes(any_repo: Path) -> None:
    with open_repo(any_repo) as db:
        blob = db.add_blob(b"data\n")
        sub = db.write_tree({"x": Entry(FILE, blob)})
        entries = [("b", FILE, blob), ("a", DIR, sub), ("a.py", EXEC, blob)]
        tree = db.tree_object(entries)
    listing = "".join(f"{mode:o} {'tree' if mode == DIR else 'blob'} {sha}\t{name}\n" for name, mode, sha in entries)
    assert tree.id == git_bytes(any_repo, "mktree", data=listing.encode()).decode().strip()
    assert tree.data == git_bytes(any_repo, "cat-file", "tree", tree.id)


def test_commits_are_what_git_commit_tree_makes(any_repo: Path) -> None:
    when = 1_700_000_000
    with open_repo(any_repo) as db:
        tree = db.write_tree({"f": Entry(FILE, db.add_blob(b"f\n"))})
        parent = db.write_commit(tree, [], "first", when=when)
        ident = db.identity()
        data = objects.commit_data(tree, [parent], ident, when, "second\n\nbody é\n".encode(), encoding=None)
        plain = db.make("commit", data)
        ours = db.write_commit(tree, [parent], "second\n\nbody é", when=when)
    assert ident == b"Test User <test@example.com>"
    date = {"GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
    theirs = git_bytes(any_repo, "commit-tree", tree, "-p", parent, "-F", "-", data="second\n\nbody é\n".encode(),
                       env=date).decode().strip()
    assert plain.id == theirs
    # What gitexp writes adds the `encoding UTF-8` header it always has; git reads it as such.
    assert git_bytes(any_repo, "cat-file", "commit", ours) == data.replace(b"\n\nsecond", b"\nencoding UTF-8\n\nsecond")
    assert git(any_repo, "log", "--format=%an <%ae> %at %P %s", "-1", ours).strip() == \
        f"Test User <test@example.com> {when} {parent} second"
    git(any_repo, "fsck", "--strict", "--no-dangling")  # raises on any error


def test_many_objects_at_once_go_to_one_pack_git_reads(any_repo: Path) -> None:
    with open_repo(any_repo) as db:
        blobs = [db.make("blob", b"blob %d\n" % i) for i in range(600)]
        db.add_objects(blobs)
        tree = db.write_tree({f"{i}.txt": Entry(FILE, b.id) for i, b in enumerate(blobs)})
    assert list((any_repo / ".git" / "objects" / "pack").glob("*.pack"))
    assert git(any_repo, "cat-file", "blob", blobs[599].id) == "blob 599\n"
    assert git(any_repo, "ls-tree", tree).count("blob") == 600
    git(any_repo, "fsck", "--strict", "--no-dangling")  # raises on any error
