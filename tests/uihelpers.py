"""A repository for the web UI tests: two ordinary runs, and one whose record is hostile."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import gitexp
import gitexp.api as api
from gitexp.names import new_run_id
from gitexp.store.record import Artifact, RunInfo, iso_from_ms
from gitexp.store.repo import RUNS_PREFIX, open_repo
from gitexp.store.runcommit import record_files, write_run_commit

XSS = "\"><img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>"
JS_URL = "javascript:window.__xss=3"


def tiny_png() -> bytes:
    """A valid 2x2 red PNG."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def make_ui_repo(repo: Path) -> dict[str, str]:
    """Runs `alpha` and `beta` through the API (params, metrics, tags, artifacts; beta changes
    train.py), and an `evil` run written as a hostile push would: XSS in every field.
    Returns {name: run id}."""
    ids = {}
    for name, lr, opt, scale in (("alpha", 0.1, "adam", 1.0), ("beta", 0.01, "sgd", 0.5)):
        if name == "beta":
            (repo / "train.py").write_text("print('training')\nlr = 0.01  # tuned\n")
        with gitexp.start_run(run_name=name, params={"lr": lr, "opt": opt, "layers": 3}) as run:
            ids[name] = run.id
            for step in range(20):
                gitexp.log_metric("loss", scale * (2.0 - step * 0.08), step=step)
                gitexp.log_metric("acc", 0.5 + step * 0.02 * scale, step=step)
            gitexp.set_tag("team", "vision")
            gitexp.log_text(f"hello from {name}\n", "notes.txt")
            gitexp.log_dict({"lr": lr, "opt": opt}, "cfg.json")
            api._log_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "plot.svg")
            api._log_bytes(b"<html><script>alert(1)</script></html>", "report.html")
            api._log_bytes(tiny_png(), "img/red.png")
    ids["evil"] = write_evil_run(repo)
    return ids


def write_evil_run(repo: Path) -> str:
    """A FINISHED run whose name, tags, params, metric key, note and artifact name carry XSS."""
    start = int(time.time() * 1000)
    run_id = new_run_id(start)
    with open_repo(repo) as db:
        head = db.head()
        tree, _ = db.commit_info(head)
        info = RunInfo(id=run_id, name=XSS, experiment="default", status="FINISHED",
                       start_time=iso_from_ms(start) or "", end_time=iso_from_ms(start + 1000),
                       user=XSS, host="h", command=["python", XSS], exit_code=0, baseline=head)
        info.description = XSS + " " + JS_URL
        blob = db.add_blob(b"evil artifact\n")
        # An artifact path carrying markup is refused by the store (it lists the run as CORRUPT),
        # so the hostile name here is the worst a valid path can be.
        artifact = Artifact("script alert 1/x.svg.html.txt", 14, "0" * 64, True, blob)
        metrics = {"loss": [(0, 1.0, start), (1, 0.5, start + 10)],
                   "x<script>": [(0, 1.0, start), (1, 2.0, start + 10)]}
        record = record_files(info, {"lr": 0.5, XSS: JS_URL, "opt": XSS}, {XSS: XSS, "link": JS_URL},
                              metrics, [artifact])
        commit = write_run_commit(db, tree, None, record, [head], "evil")
        db.set_ref(f"{RUNS_PREFIX}default/{run_id}", None, commit, "pushed")
    return run_id


def build_in_subprocess_env(repo: Path, env: dict[str, str]) -> dict[str, str]:
    """`make_ui_repo` in a new repository at `repo`, with `env` (identities, HOME) set meanwhile."""
    import os

    from tests.helpers import init_repo

    old, cwd = dict(os.environ), os.getcwd()
    os.environ.update(env)
    try:
        init_repo(repo)
        os.chdir(repo)
        saved = api._repo_path
        api._repo_path = str(repo)
        try:
            return make_ui_repo(repo)
        finally:
            api._repo_path = saved
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(old)


def isolated_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T",
            "GIT_COMMITTER_EMAIL": "t@example.com", "USER": "tester"}
