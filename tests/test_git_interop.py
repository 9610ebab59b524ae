"""Runs as plain Git: what the real git CLI sees, and what gitexp never touches in the user's repo."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import gitexp
from tests.helpers import cli, git, record, run_refs, show

PY = sys.executable


def only_ref(repo: Path, experiment: str | None = None) -> str:
    refs = run_refs(repo, experiment)
    assert len(refs) == 1, refs
    return refs[0]


def tree_names(repo: Path, rev: str, path: str = "") -> list[str]:
    args = ["ls-tree", "-r", "--name-only", rev] + ([path] if path else [])
    return git(repo, *args).split("\n")[:-1]


def run_api(name: str, params: dict | None = None, metrics: dict | None = None) -> str:
    with gitexp.start_run(run_name=name) as run:
        if params:
            gitexp.log_params(params)
        for key, value in (metrics or {}).items():
            gitexp.log_metric(key, value)
    return run.id


# -- what git sees ----------------------------------------------------------------------------------------

def test_fsck_log_and_ancestry(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    run_id = run_api("logged", {"lr": 0.01}, {"acc": 0.9})
    proc = cli("run", "-n", "via-cli", "--", PY, "-c", "import gitexp; gitexp.log_metric('loss', 0.5)", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    git(repo, "fsck", "--strict", "--no-dangling")
    ref = f"refs/gitexp/runs/default/{run_id}"
    log = git(repo, "log", "--format=%H %P%x09%s", ref).splitlines()
    assert len(log) == 3
    end, start, initial = (line.split("\t") for line in log)
    assert end[1] == "gitexp: end run logged (FINISHED)"
    assert start[1] == "gitexp: start run logged in default"
    assert initial[0].split()[0] == base and initial[1] == "initial"
    assert end[0].split()[1] == start[0].split()[0]  # end's parent is the start commit
    assert start[0].split()[1] == base  # and the start's parent is the baseline
    subprocess.run(["git", "merge-base", "--is-ancestor", base, ref], cwd=repo, check=True)
    assert git(repo, "rev-list", "--first-parent", ref).split()[-1] == base
    body = git(repo, "log", "-1", "--format=%B", ref)
    assert f"run id: {run_id}" in git(repo, "log", "-1", "--format=%B", f"{ref}~1")
    assert "acc: 0.9 (step 0)" in body
    # the start commit already holds a complete RUNNING record
    assert record(repo, f"{ref}~1")["status"] == "RUNNING"
    assert record(repo, ref)["status"] == "FINISHED"
    assert git(repo, "cat-file", "-t", ref).strip() == "commit"
    assert "exit code: 0" in git(repo, "log", "-1", "--format=%B", only_ref_named(repo, "via-cli"))


def only_ref_named(repo: Path, name: str) -> str:
    return next(r for r in run_refs(repo) if record(repo, r)["name"] == name)


def test_git_show_and_diff_between_runs(repo: Path) -> None:
    a = run_api("run-a", {"lr": 0.01, "epochs": 10}, {"acc": 0.8})
    (repo / "train.py").write_text("print('training v2')\n")  # an uncommitted code change
    b = run_api("run-b", {"lr": 0.1, "epochs": 10}, {"acc": 0.85})
    ra, rb = f"refs/gitexp/runs/default/{a}", f"refs/gitexp/runs/default/{b}"
    assert show(repo, ra, ".gitexp/params.yaml") == "epochs: 10\nlr: 0.01\n"
    diff = git(repo, "diff", ra, rb)
    assert "-lr: 0.01\n+lr: 0.1\n" in diff
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert not any(ln[1:].startswith("epochs:") for ln in changed)  # an unchanged param is no change
    assert "-print('training')\n+print('training v2')\n" in diff  # code and results in one diff
    assert "diff --git a/.gitexp/summary.yaml b/.gitexp/summary.yaml" in diff
    names = git(repo, "diff", "--name-only", ra, rb).split()
    assert "train.py" in names and ".gitexp/params.yaml" in names and ".gitexp/run.yaml" in names
    assert record(repo, ra)["dirty"] is False and record(repo, rb)["dirty"] is True


def test_checkout_of_a_run_in_a_separate_clone_gives_the_code(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('edited, not committed')\n")
    (repo / "utils.py").write_text("HELPER = 1\n")  # untracked, not ignored
    (repo / "data").mkdir()
    (repo / "data" / "small.csv").write_text("a,b\n1,2\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(repo / "run.sh", 0o755)
    os.symlink("train.py", repo / "link.py")
    run_id = run_api("snap")
    ref = f"refs/gitexp/runs/default/{run_id}"
    commit = git(repo, "rev-parse", ref).strip()

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    git(clone, "fetch", "-q", "origin", "+refs/gitexp/*:refs/gitexp/*")
    git(clone, "checkout", "-q", "--detach", commit)
    assert (clone / "train.py").read_text() == "print('edited, not committed')\n"
    assert (clone / "utils.py").read_text() == "HELPER = 1\n"
    assert (clone / "data" / "small.csv").read_text() == "a,b\n1,2\n"
    assert os.stat(clone / "run.sh").st_mode & stat.S_IXUSR
    assert os.readlink(clone / "link.py") == "train.py"
    assert (clone / ".gitexp" / "run.yaml").exists()
    git(clone, "fsck", "--strict")
    # the user's repo was not touched by any of this
    assert (repo / "train.py").read_text() == "print('edited, not committed')\n"
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


# -- what goes into the snapshot --------------------------------------------------------------------------

def test_snapshot_contents(repo: Path) -> None:
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    (repo / "notes.md").write_text("untracked, not ignored\n")
    (repo / "train.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_text("ignored dir\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "deep.py").write_text("x = 1\n")
    # a .gitexp folder in the working tree (say on a branch made from a run), tracked and untracked
    (repo / ".gitexp").mkdir()
    (repo / ".gitexp" / "run.yaml").write_text("id: not-this-one\n")
    git(repo, "add", "-f", ".gitexp/run.yaml")
    git(repo, "commit", "-q", "-m", "a .gitexp folder")
    (repo / ".gitexp" / "scratch.txt").write_text("untracked in .gitexp\n")

    run_id = run_api("snapshot")
    ref = only_ref(repo)
    names = tree_names(repo, ref)
    assert "notes.md" in names and "sub/deep.py" in names and "train.py" in names and ".gitignore" in names
    assert "train.log" not in names and not any(n.startswith("build/") for n in names)
    record_files = sorted(n for n in names if n.startswith(".gitexp/"))
    assert ".gitexp/scratch.txt" not in record_files
    assert set(record_files) >= {".gitexp/run.yaml", ".gitexp/params.yaml", ".gitexp/tags.yaml",
                                 ".gitexp/summary.yaml", ".gitexp/artifacts.yaml"}
    assert record(repo, ref)["id"] == run_id  # the run's own record took the folder's place
    assert record(repo, ref)["dirty"] is True  # notes.md and sub/deep.py are not in HEAD


def test_dirty_flag(repo: Path) -> None:
    run_api("clean")
    clean_ref = only_ref(repo)
    assert record(repo, clean_ref)["dirty"] is False
    assert tree_names(repo, clean_ref, "train.py") == ["train.py"]
    (repo / "train.py").write_text("print('changed')\n")
    dirty_id = run_api("dirty")
    assert record(repo, f"refs/gitexp/runs/default/{dirty_id}")["dirty"] is True
    assert show(repo, f"refs/gitexp/runs/default/{dirty_id}", "train.py") == "print('changed')\n"
    git(repo, "checkout", "--", "train.py")
    (repo / "train.py").unlink()  # a deletion is a change too
    deleted_id = run_api("deleted")
    deleted_ref = f"refs/gitexp/runs/default/{deleted_id}"
    assert record(repo, deleted_ref)["dirty"] is True
    assert "train.py" not in tree_names(repo, deleted_ref)


def test_dirty_flag_on_a_branch_made_from_a_run(repo: Path) -> None:
    """HEAD's tree holds a run's `.gitexp/` record: it is not code, so an unchanged tree is clean."""
    first = run_api("first")
    git(repo, "checkout", "-q", "-b", "from-run", f"refs/gitexp/runs/default/{first}")
    assert (repo / ".gitexp" / "run.yaml").is_file()
    clean = run_api("clean")
    assert record(repo, f"refs/gitexp/runs/default/{clean}")["dirty"] is False
    (repo / "train.py").write_text("print('changed')\n")
    dirty = run_api("dirty")
    assert record(repo, f"refs/gitexp/runs/default/{dirty}")["dirty"] is True
    assert git(repo, "fsck", "--strict") == ""


def test_large_untracked_files_are_skipped_and_listed(repo: Path) -> None:
    (repo / ".gitexp.yaml").write_text("snapshot:\n  max_file_size: 100\n")
    git(repo, "add", ".gitexp.yaml")
    git(repo, "commit", "-q", "-m", "settings")
    (repo / "big.dat").write_bytes(b"x" * 101)
    (repo / "ok.dat").write_bytes(b"y" * 100)
    big_tracked = "print('tracked files are always kept')\n" * 5  # > 100 bytes, but tracked
    (repo / "train.py").write_text(big_tracked)
    run_id = run_api("capped")
    ref = f"refs/gitexp/runs/default/{run_id}"
    names = tree_names(repo, ref)
    assert "big.dat" not in names and "ok.dat" in names
    assert show(repo, ref, "train.py") == big_tracked
    skipped = record(repo, ref)["skipped"]
    assert skipped == [{"path": "big.dat", "size": 101, "reason": "larger than the snapshot cap"}]
    assert "skipped     1 files" in cli("show", run_id, cwd=repo).stdout


def test_repository_without_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q", "-b", "main")
    (fresh / "train.py").write_text("print(1)\n")
    proc = cli("run", "--", PY, "-c", "import gitexp; gitexp.log_metric('m', 1.0)", cwd=fresh)
    assert proc.returncode == 0, proc.stderr
    ref = only_ref(fresh)
    info = record(fresh, ref)
    assert info["baseline"] is None and info["dirty"] is True and info["status"] == "FINISHED"
    assert len(git(fresh, "rev-list", ref).split()) == 2  # the start commit is a root commit
    assert show(fresh, ref, "train.py") == "print(1)\n"
    git(fresh, "fsck", "--strict")
    assert git(fresh, "rev-parse", "--verify", "-q", "HEAD", check=False) == ""  # still no commits


# -- what gitexp never touches ---------------------------------------------------------------------------

HOOKS = ("pre-commit", "post-commit", "commit-msg", "reference-transaction", "post-checkout", "post-index-change",
         "pre-auto-gc", "post-rewrite")


def fingerprint(repo: Path) -> dict[str, object]:
    """Working tree files (content and mtime), index bytes, HEAD and every branch."""
    files = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if rel == ".git" or rel.startswith(".git/") or path.is_dir():
            continue
        st = path.lstat()
        files[rel] = (hashlib.sha256(path.read_bytes()).hexdigest() if not path.is_symlink() else
                      os.readlink(path), st.st_mtime_ns, st.st_mode)
    return {
        "files": files,
        "index": (repo / ".git" / "index").read_bytes(),
        "HEAD": (repo / ".git" / "HEAD").read_text(),
        "branches": git(repo, "for-each-ref", "refs/heads", "refs/tags", "refs/remotes"),
        "config": (repo / ".git" / "config").read_text(),
    }


@pytest.mark.slow  # seconds of real processes: in the slow set
def test_user_repo_untouched_and_no_hook_fires(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('work in progress')\n")  # a dirty tree, unstaged
    (repo / "new.py").write_text("untracked\n")
    (repo / "staged.py").write_text("staged\n")
    git(repo, "add", "staged.py")
    status_before = git(repo, "status", "--porcelain")
    before = fingerprint(repo)
    marker = tmp_path / "hook-fired"  # hooks go in after our own git calls above (git status fires some)
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in HOOKS:
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\necho {name} >> '{marker}'\nexit 0\n")
        hook.chmod(0o755)

    with gitexp.start_run(run_name="quiet"):
        gitexp.log_param("lr", 0.1)
        gitexp.log_metric("acc", 0.5)
        gitexp.log_text("artifact", "a.txt")
    proc = cli("run", "-p", "x=1", "--", PY, "-c", "import gitexp; gitexp.log_metric('m', 1.0)", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    for args in (["ls", "--all"], ["show", "quiet"], ["ls", "--json"]):
        assert cli(*args, cwd=repo).returncode == 0

    after = fingerprint(repo)
    assert not marker.exists(), marker.read_text()
    assert after == before
    assert git(repo, "status", "--porcelain") == status_before
    assert len(run_refs(repo)) == 2
    assert show(repo, only_ref_named(repo, "quiet"), "staged.py") == "staged\n"

    # the hooks are live: a real git commit does fire them
    git(repo, "commit", "-q", "-m", "check hooks")
    fired = marker.read_text().split()
    assert "pre-commit" in fired and "post-commit" in fired and "reference-transaction" in fired


def test_sparse_checkout_files_are_kept_not_deleted(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "src" / "model.py").write_text("MODEL = 1\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("# guide\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "more files")
    git(repo, "sparse-checkout", "set", "src")
    assert not (repo / "docs").exists()  # not on disk: excluded by the sparse checkout, not deleted
    run_id = run_api("sparse")
    ref = f"refs/gitexp/runs/default/{run_id}"
    assert show(repo, ref, "docs/guide.md") == "# guide\n"
    assert record(repo, ref)["dirty"] is False
    assert git(repo, "diff", "--stat", "HEAD", ref, "--", ".", ":!.gitexp") == ""


def test_index_version_4(repo: Path) -> None:
    git(repo, "update-index", "--index-version", "4")
    (repo / "train.py").write_text("print('v4')\n")
    run_id = run_api("v4")
    ref = f"refs/gitexp/runs/default/{run_id}"
    assert show(repo, ref, "train.py") == "print('v4')\n"
    assert record(repo, ref)["dirty"] is True
