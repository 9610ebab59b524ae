"""Stress: many writers with `git gc` running, kill -9 at random moments, a full disk, hostile records.

Each test asserts counts: runs complete, points kept, `git fsck` clean, other runs still listed.
Assertions marked PENDING(item N) depend on a store fix of issue 7 that lands separately
(N = 1 full disk, 2 gc races, 5 hostile records, 11 name reservation); they fail until then.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import git, init_repo
from tests.stress.conftest import LONG, report, scale

pytestmark = pytest.mark.stress
PY = sys.executable


def gx(repo: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "gitexp", *args], cwd=repo, capture_output=True, text=True, timeout=timeout)


def listed(repo: Path) -> list[dict]:
    p = gx(repo, "ls", "--all", "-n", "0", "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout or "[]")


def histories(repo: Path, key: str) -> dict[str, list[int]]:
    """{run id: steps of `key`} for every run, read through the public API in a fresh process."""
    p = subprocess.run([PY, "-c", textwrap.dedent(f"""\
        import json, gitexp
        out = {{}}
        for run in gitexp.search_runs(experiment=None):
            out[run.id] = [s for s, _, _ in run.history.get({key!r}, [])]
        print(json.dumps(out))
    """)], cwd=repo, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def fsck_clean(repo: Path) -> bool:
    return subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo,
                          capture_output=True).returncode == 0


# -- many writers while git gc / pack-refs run ---------------------------------------------------------

WRITER = """\
import sys, gitexp
runs, points, who = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
done = 0
for r in range(runs):
    try:
        with gitexp.start_run(experiment="stress", tags={"writer": who}):
            for i in range(points):
                gitexp.log_metric("m", float(i))
        done += 1
    except Exception as exc:
        print(f"ERROR {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
print(done)
"""


def test_concurrent_writers_with_gc_and_pack_refs(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    writers, runs, points = scale(4, 16), scale(3, 20), scale(200, 1000)
    wrapped, wrapped_runs = scale(2, 4), scale(2, 5)
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "child.py").write_text(f"import gitexp\nfor i in range({points}): gitexp.log_metric('m', float(i))\n")
    stop = threading.Event()
    storm = Counter()

    def gc_loop() -> None:
        while not stop.is_set():
            # As the reliability pass did. Not `gc --prune=now`: git documents it as unsafe while
            # anything writes (an object written but not yet referenced is deleted), for git itself too.
            for args in (["gc", "--auto"], ["pack-refs", "--all"], ["gc", "--quiet"]):
                p = subprocess.run(["git", *args], cwd=repo, capture_output=True)
                storm[f"git {args[0]} rc={p.returncode}"] += 1

    def ls_loop() -> None:
        while not stop.is_set():
            p = gx(repo, "ls", "--all", "-n", "0", "--json")
            storm["ls ok" if p.returncode == 0 else "ls failed"] += 1

    def wrapped_loop(k: int) -> None:
        for _ in range(wrapped_runs):
            p = gx(repo, "run", "-e", "stress", "-t", f"writer=run{k}", "--", PY, str(tmp_path / "child.py"))
            storm["gitexp run ok" if p.returncode == 0 else "gitexp run failed"] += 1
            if p.returncode:
                storm["errors"] += 1
                print(p.stderr[-500:])

    helpers = [threading.Thread(target=gc_loop), threading.Thread(target=ls_loop)]
    for t in helpers:
        t.start()
    procs = [subprocess.Popen([PY, str(tmp_path / "writer.py"), str(runs), str(points), f"w{k}"], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(writers)]
    side = [threading.Thread(target=wrapped_loop, args=(k,)) for k in range(wrapped)]
    for t in side:
        t.start()
    outputs = [p.communicate(timeout=3600) for p in procs]
    for t in side:
        t.join()
    stop.set()
    for t in helpers:
        t.join()
    expected = writers * runs + wrapped * wrapped_runs
    completed = sum(int(out.strip() or 0) for out, _ in outputs) + storm["gitexp run ok"]
    errors = [line for _, err in outputs for line in err.splitlines() if line.startswith("ERROR")]
    runs_listed = listed(repo)
    steps = histories(repo, "m")
    kept = sum(1 for s in steps.values() if s == list(range(points)))
    names = Counter(r["name"] for r in runs_listed)
    counts = {"runs expected": expected, "completed": completed, "errors": len(errors) + storm["errors"],
              "listed": len(runs_listed), "finished": sum(r["status"] == "FINISHED" for r in runs_listed),
              f"runs with all {points} points": kept, "duplicate names": sum(n - 1 for n in names.values() if n > 1),
              "fsck clean": fsck_clean(repo), **storm}
    report("concurrency+gc", counts)
    assert storm["ls failed"] == 0, counts  # listing never breaks during the storm
    assert fsck_clean(repo), counts
    # PENDING(item 2): gc/pack-refs races (fan-out folder removed, ref folder gone, git's ref lock) fail a few runs
    assert not errors and completed == expected, f"PENDING(item 2) {counts} {errors[:5]}"
    assert len(runs_listed) == expected and counts["finished"] == expected, f"PENDING(item 2) {counts}"
    assert kept == expected, counts  # every completed run kept every point
    assert counts["duplicate names"] == 0, f"PENDING(item 11) {counts}"


# -- kill -9 at random moments ---------------------------------------------------------------------------

VICTIM = """\
import sys, gitexp
mode = sys.argv[1]
with gitexp.start_run(experiment="crash", run_name=sys.argv[2]):
    print("started", flush=True)
    i = 0
    while mode == "log" or i < 3000:
        gitexp.log_metric("m", float(i), step=i)
        i += 1
        if i % 25 == 0:
            gitexp.flush()
            print(f"flushed {i}", flush=True)
    print("ending", flush=True)
"""


@pytest.mark.parametrize("mode", ["log", "end"])
def test_kill_9_at_random_moments(tmp_path: Path, mode: str) -> None:
    repo = init_repo(tmp_path / "repo")
    git(repo, "config", "gitexp.flushinterval", "0.05")
    assert gx(repo, "run", "-e", "witness", "-n", "witness", "--", "true").returncode == 0
    (tmp_path / "victim.py").write_text(VICTIM)
    trials = scale(6, 40)
    rng = random.Random(7 if not LONG else None)
    flushed: dict[str, int] = {}
    for k in range(trials):
        name = f"victim-{k}"
        p = subprocess.Popen([PY, str(tmp_path / "victim.py"), mode, name], cwd=repo, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(p.stdout,), daemon=True)
        reader.start()
        deadline = time.time() + 60
        while not (lines and (mode == "log" or "ending\n" in lines)) and time.time() < deadline and p.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.05, 1.0) if mode == "log" else rng.uniform(0.0, 0.15))
        p.kill()
        p.wait()
        reader.join(5)
        flushed[name] = max([int(x.split()[1]) for x in lines if x.startswith("flushed")], default=0)
    runs = {r["name"]: r for r in listed(repo)}
    stuck = [n for n in flushed if runs[n]["status"] == "RUNNING"]
    if stuck:  # killed inside its final ref update: a stale <ref>.lock, which ls must name (item 12)
        warned = gx(repo, "ls", "--all").stderr
        for n in stuck:
            lock = repo / ".git" / f"refs/gitexp/runs/crash/{runs[n]['id']}.lock"
            assert lock.exists() and f"rm '{lock}'" in warned, (n, warned)
            lock.unlink()  # as the warning says (no git or gitexp command runs now)
        runs = {r["name"]: r for r in listed(repo)}
    by_id = histories(repo, "m")
    steps = {n: by_id.get(runs[n]["id"], []) for n in flushed}
    statuses = Counter(runs[n]["status"] for n in flushed)
    kept = sum(1 for n in flushed if steps[n][:flushed[n]] == list(range(flushed[n])))
    contiguous = sum(1 for n in flushed if steps[n] == list(range(len(steps[n]))))
    finished_complete = all(len(steps[n]) == 3000 for n in flushed if runs[n]["status"] == "FINISHED")
    counts = {"trials": trials, **{f"status {s}": c for s, c in statuses.items()},
              "stale ref locks named by ls and removed": len(stuck),
              "kept every flushed point": kept, "no gap or duplicate": contiguous,
              "points lost after last flush (max)": max((0,) + tuple(
                  max(0, flushed[n] - len(steps[n])) for n in flushed)),
              "witness listed": "witness" in runs, "fsck clean": fsck_clean(repo)}
    report(f"kill -9 ({mode})", counts)
    assert statuses.get("RUNNING", 0) == 0, counts  # every dead run shows as KILLED (or FINISHED at the end)
    assert kept == trials and contiguous == trials, counts
    assert finished_complete, counts  # never FINISHED with points missing
    assert counts["witness listed"] and runs["witness"]["status"] == "FINISHED", counts
    assert counts["fsck clean"], counts


# -- a full disk ------------------------------------------------------------------------------------------

FILLER_VICTIM = """\
import os, sys, time, gitexp
fill, total = sys.argv[1], int(sys.argv[2])
logged, outcome = 0, "ended"
try:
    with gitexp.start_run(experiment="disk", run_name="full"):
        for i in range(total):
            gitexp.log_metric("m", float(i), step=i)
            logged += 1
            if i == total // 3:
                open(fill + ".go", "w").close()
                while not os.path.exists(fill + ".freed"):  # the disk fills, then is freed again
                    gitexp.log_metric("during", float(i))
                    time.sleep(0.001)
except Exception as exc:
    outcome = f"end_run raised {type(exc).__name__}"
print(logged, outcome, flush=True)
"""


def _mount_tmpfs(path: Path, size: str) -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_full_disk_keeps_points_or_says_so(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not _mount_tmpfs(mnt, "20m"):
        pytest.skip("needs root and permission to mount a 20 MB tmpfs (a full disk is simulated on it)")
    try:
        repo = init_repo(mnt / "repo")
        assert gx(repo, "run", "-e", "witness", "-n", "witness", "--", "true").returncode == 0
        total = scale(30_000, 300_000)
        fill = mnt / "filler"
        (tmp_path / "victim.py").write_text(FILLER_VICTIM)
        p = subprocess.Popen([PY, str(tmp_path / "victim.py"), str(fill), str(total)], cwd=repo,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while not Path(str(fill) + ".go").exists() and time.time() < deadline and p.poll() is None:
            time.sleep(0.01)
        fd = os.open(fill, os.O_WRONLY | os.O_CREAT, 0o644)
        try:  # fill the disk to the last byte
            for chunk in (1 << 20, 4096, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError:
                    pass
        finally:
            os.close(fd)
        time.sleep(2.5)  # several flush intervals fail meanwhile
        fill.unlink()
        Path(str(fill) + ".freed").write_text("")
        out, err = p.communicate(timeout=600)
        logged, outcome = out.split(maxsplit=1)
        runs = {r["name"]: r for r in listed(repo)}
        kept = histories(repo, "m").get(runs["full"]["id"], [])
        counts = {"logged": int(logged), "kept": len(kept), "status": runs["full"]["status"],
                  "outcome": outcome.strip(), "witness listed": "witness" in runs, "fsck clean": fsck_clean(repo)}
        report("full disk", counts)
        assert counts["witness listed"] and counts["fsck clean"], counts
        assert runs["full"]["status"] != "RUNNING", counts
        # PENDING(item 1): points are dropped when a flush fails and the run still says FINISHED
        if runs["full"]["status"] == "FINISHED":
            assert len(kept) == int(logged), f"PENDING(item 1) FINISHED with points missing: {counts}"
        else:
            assert outcome.strip().startswith("end_run raised"), f"PENDING(item 1) no error from end_run: {counts}"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# -- hostile records (as if pulled from a teammate) -------------------------------------------------------

def _laughs(levels: int = 9) -> bytes:
    s = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels + 1):
        s += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n"
    return s.encode()


HOSTILE = {  # case: (record file, content); "!id" cases rewrite run.yaml fields
    "runyaml_garbage": ("run.yaml", b"\x00\xff\xfe garbage: [unclosed\n\t- :"),
    "runyaml_list": ("run.yaml", b"- a\n- b\n"),
    "runyaml_types": ("!run", {"name": "{a: 1}", "experiment": "[x, y]", "command": "5", "exit_code": "abc",
                               "start_time": "12345", "dirty": "maybe"}),
    "runyaml_dates": ("!run", {"start_time": "2026-01-01 00:00:00", "end_time": "0001-01-01T00:00:00Z"}),
    "runyaml_id_traversal": ("!run", {"id": "../../hooks", "status": "RUNNING", "end_time": "null"}),
    "runyaml_name_control": ("!run", {"name": '"\\e]0;TITLE\\a\\e[31mRED"'}),
    "runyaml_format2": ("!run", {"format": "2"}),
    "runyaml_pytag": ("!run", {"description": '!!python/object/apply:os.system ["touch {pwned}"]'}),
    "params_pytag": ("params.yaml", b'x: !!python/object/apply:os.system ["touch {pwned}"]\nlr: 0.1\n'),
    "params_bomb": ("params.yaml", _laughs(9)),
    "tags_bomb": ("tags.yaml", _laughs(9)),
    "params_deep": ("params.yaml", b"x: " + b"[" * 50000 + b"]" * 50000 + b"\n"),
    "params_deepmap": ("params.yaml", b"x: " + b"{a: " * 20000 + b"1" + b"}" * 20000 + b"\n"),
    "params_complexkey": ("params.yaml", b"? [a, b]\n: c\n"),
    "params_dupkeys": ("params.yaml", b"lr: 1\nlr: 2\n"),
    "params_nonmap": ("params.yaml", b"- 1\n- 2\n"),
    "summary_weird": ("summary.yaml", b"loss: {last: abc, step: x, min: [1], max: {}, count: -1}\n"),
    "metrics_garbage": ("metrics/loss.tsv", bytes(random.Random(1).getrandbits(8) for _ in range(5000))),
    "metrics_noheader": ("metrics/loss.tsv", b"0\t1.0\t1\n1\t2.0\t2\n"),
    "artifacts_notlist": ("artifacts.yaml", b"path: x\n"),
    "tag_osc": ("tags.yaml", b'evil: "\\e]52;c;cHduZWQ=\\a"\n'),
}
SHORT_CASES = ["runyaml_garbage", "runyaml_types", "runyaml_id_traversal", "params_bomb", "params_deep",
               "params_complexkey", "metrics_garbage", "tag_osc"]


def _craft(repo: Path, good_ref: str, case: str, pwned: Path) -> str:
    """Write a run commit with one hostile file (derived from a good run) under a new ref; its id."""
    from dulwich.objects import Blob, Commit, Tree
    from dulwich.repo import Repo

    where, content = HOSTILE[case]
    rid = "1zzzzzzzz" + "".join("0123456789abcdefghjkmnpqrstvwxyz"[ord(c) % 32] for c in case)[:7]
    rid = rid.ljust(16, "z")[:16]
    with Repo(str(repo)) as r:
        store = r.object_store
        good = store[r.refs[good_ref.encode()]]
        files: dict[bytes, tuple[int, bytes]] = {}

        def walk(tree_id: bytes, prefix: bytes = b"") -> None:
            for item in store[tree_id].iteritems():
                if item.mode == 0o040000:
                    walk(item.sha, prefix + item.path + b"/")
                else:
                    files[prefix + item.path] = (item.mode, item.sha)

        walk(good.tree)
        run_yaml = store[files[b".gitexp/run.yaml"][1]].data.decode()
        fields = {"id": rid, "name": f"bad-{case.replace('_', '-')}", "experiment": "bad"}
        if where == "!run":
            fields.update({k: v.replace("{pwned}", str(pwned)) for k, v in content.items()})
            where, content = "run.yaml", None
        lines = []
        for line in run_yaml.splitlines():
            key = line.split(":", 1)[0]
            lines.append(f"{key}: {fields.pop(key)}" if key in fields and not line.startswith(" ") else line)
        lines += [f"{k}: {v}" for k, v in fields.items()]
        text = ("\n".join(lines) + "\n").encode()
        data = text if content is None else content.replace(b"{pwned}", str(pwned).encode())
        if where != "run.yaml":
            blob = Blob.from_string(("\n".join(lines) + "\n").encode())
            store.add_object(blob)
            files[b".gitexp/run.yaml"] = (0o100644, blob.id)
        blob = Blob.from_string(data)
        store.add_object(blob)
        files[b".gitexp/" + where.encode()] = (0o100644, blob.id)
        root: dict = {}
        for path, entry in files.items():
            node = root
            *dirs, name = path.split(b"/")
            for d in dirs:
                node = node.setdefault(d, {})
            node[name] = entry

        def build(node: dict) -> bytes:
            tree = Tree()
            for name, v in node.items():
                tree.add(name, 0o040000, build(v)) if isinstance(v, dict) else tree.add(name, v[0], v[1])
            store.add_object(tree)
            return tree.id

        commit = Commit()
        commit.tree = build(root)
        commit.parents = [good.id]
        commit.author = commit.committer = b"mallory <m@example.com>"
        commit.author_time = commit.commit_time = 1767225600
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = f"bad run {case}\n".encode()
        store.add_object(commit)
        r.refs[f"refs/gitexp/runs/bad/{rid}".encode()] = commit.id
    return rid


@pytest.fixture(scope="module")
def hostile_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    with pytest.MonkeyPatch.context() as mp:
        from tests.helpers import isolate

        isolate(mp, tmp_path_factory.mktemp("home"))
        return _make_template(tmp_path_factory.mktemp("hostile") / "template")


def _make_template(path: Path) -> tuple[Path, str]:
    init_repo(path)
    p = subprocess.run([PY, "-c", textwrap.dedent("""\
        import gitexp
        with gitexp.start_run(run_name="good-run", experiment="bad", params={"lr": 0.1}) as r:
            for i in range(10):
                gitexp.log_metric("loss", 1.0 / (i + 1))
            gitexp.set_tag("t", "v")
        with gitexp.start_run(run_name="other-run", experiment="other"):
            gitexp.log_metric("loss", 0.5)
        print(r.ref)
    """)], cwd=path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return path, p.stdout.strip()


@pytest.mark.parametrize("case", sorted(HOSTILE) if LONG else SHORT_CASES)
def test_hostile_record_never_hides_the_others(hostile_template: tuple[Path, str], tmp_path: Path,
                                               case: str) -> None:
    template, good_ref = hostile_template
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    pwned = tmp_path / "PWNED"
    bad = _craft(repo, good_ref, case, pwned)
    hooks_before = sorted(os.listdir(repo / ".git" / "hooks")) if (repo / ".git" / "hooks").is_dir() else []
    outcomes: dict[str, str] = {}
    listing: list[dict] = []
    limit = scale(20, 60)  # seconds per command
    for label, args in {"ls": ["ls", "--all", "-n", "0", "--json"], "show good": ["show", "good-run"],
                        "show bad": ["show", bad], "diff": ["diff", "good-run", "other-run"],
                        "tag good": ["tag", "good-run", "k=v"]}.items():
        start = time.time()
        if "TIMEOUT" in outcomes.values():
            outcomes[label] = "TIMEOUT (not run: an earlier command hung)"
            continue
        try:
            p = subprocess.run([PY, "-m", "gitexp", *args], cwd=repo, capture_output=True, text=True, timeout=limit,
                               preexec_fn=_memory_cap(2 << 30))
            broken = "Traceback" in p.stderr or "unexpected" in p.stderr or p.returncode < 0
            outcomes[label] = f"rc={p.returncode}{' BROKEN' if broken else ''} {time.time() - start:.1f}s"
            if label == "ls":
                listing = json.loads(p.stdout) if p.returncode == 0 else []
        except subprocess.TimeoutExpired:
            outcomes[label] = "TIMEOUT"
    names = {r["name"]: r for r in listing} if outcomes["ls"].startswith("rc=0") else {}
    bad_row = next((r for r in listing if r.get("id") == bad), None) if names else None
    counts = {**outcomes, "good listed": "good-run" in names, "other listed": "other-run" in names,
              "bad listed as": bad_row and bad_row.get("status"), "code executed": pwned.exists(),
              "files added to .git/hooks": len(set(os.listdir(repo / ".git" / "hooks")) - set(hooks_before))
              if hooks_before else 0, "fsck clean": fsck_clean(repo)}
    report(f"hostile {case}", counts)
    assert not counts["code executed"], counts
    assert counts["files added to .git/hooks"] == 0, f"PENDING(item 6) {counts}"
    # PENDING(item 5): a bad record must list as CORRUPT and never break or hang the other commands
    assert outcomes["ls"].startswith("rc=0") and "BROKEN" not in outcomes["ls"], f"PENDING(item 5) {counts}"
    assert counts["good listed"] and counts["other listed"], f"PENDING(item 5) {counts}"
    for label in ("show good", "diff", "tag good"):
        assert outcomes[label].startswith("rc=0") and "BROKEN" not in outcomes[label], f"PENDING(item 5) {counts}"
    assert outcomes["show bad"].startswith("rc="), f"PENDING(item 5) {counts}"
    assert "BROKEN" not in outcomes["show bad"], f"PENDING(item 5) {counts}"
    # PENDING(items 5, 6): the bad run is listed under the id of its ref (as CORRUPT when unreadable)
    assert bad_row is not None, f"PENDING(items 5, 6) {counts}"


def _memory_cap(limit: int):
    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return cap
