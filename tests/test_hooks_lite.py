"""The git hooks' light pieces: the YAML-free reader of run.yaml gives what the real loader gives (or
defers to it); run refs picked by name; git processes without subprocess; trailer lines."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from gitexp import names
from gitexp.errors import CorruptRecord
from gitexp.store import gitlite, record, runyaml_lite, yamlio
from gitexp.store.record import RunInfo
from tests.helpers import git, sampled

BASE = """format: 1
id: 1m8mwb5p9nyj3gq3
name: keen-hippo
experiment: default
status: FINISHED
start_time: '2026-11-30T00:05:44.777Z'
end_time: '2026-11-30T00:05:45.677Z'
user: bench
host: bench
command:
- python
- train.py
exit_code: 0
baseline: 8652f8f5d9970cb7dab0e6e88c028de4e6699936
branch: null
dirty: false
skipped: []
gitexp_version: ''
python_version: ''
parent_run: null
description: null
"""


def variants() -> list[str]:
    swaps = [
        ("status: FINISHED", "status: RUNNING"), ("status: FINISHED", "status: DONE"),
        ("status: FINISHED", "status: 'FINISHED'"), ("status: FINISHED", 'status: "FINISHED"'),
        ("format: 1", "format: 2"), ("format: 1", "format: 0"), ("format: 1", "format: '1'"), ("format: 1\n", ""),
        ("format: 1", "format: 1.0"), ("exit_code: 0", "exit_code: -3"), ("exit_code: 0", "exit_code: 1e3"),
        ("exit_code: 0", "exit_code: 99999999999"), ("exit_code: 0", "exit_code: null"), ("exit_code: 0", "exit_code:"),
        ("exit_code: 0", "exit_code: 0x1f"), ("exit_code: 0", "exit_code: 017"), ("dirty: false", "dirty: yes"),
        ("dirty: false", "dirty: True"), ("dirty: false", "dirty: 0"), ("name: keen-hippo", "name: 123"),
        ("name: keen-hippo", "name: 1.5"), ("name: keen-hippo", "name: true"), ("name: keen-hippo", "name: ~"),
        ("name: keen-hippo", "name: 'it''s'"), ("name: keen-hippo", "name: a: b"), ("name: keen-hippo", "name: x # c"),
        ("name: keen-hippo", "name: -x"), ("name: keen-hippo", "name: .inf"), ("name: keen-hippo", "name: 2026-01-01"),
        ("name: keen-hippo", "name: écrit"), ("name: keen-hippo", "name: [a, b]"), ("name: keen-hippo", "name: {}"),
        ("name: keen-hippo", "name: &a x"), ("name: keen-hippo", "name: !!str 5"), ("name: keen-hippo", 'name: "a\\tb"'),
        ("start_time: '2026-11-30T00:05:44.777Z'", "start_time: 2026-11-30T00:05:44.777Z"),
        ("baseline: 8652f8f5d9970cb7dab0e6e88c028de4e6699936", "baseline: 1234e5678"),
        ("baseline: 8652f8f5d9970cb7dab0e6e88c028de4e6699936", "baseline: 0123456789012345678901234567890123456789"),
        ("baseline: 8652f8f5d9970cb7dab0e6e88c028de4e6699936", "baseline:"),
        ("id: 1m8mwb5p9nyj3gq3", "id: 1m8mwb5p9nyj3gq"), ("id: 1m8mwb5p9nyj3gq3", "id: 1m8mwb5p9nyj3gqi"),
        ("id: 1m8mwb5p9nyj3gq3\n", ""), ("command:\n- python\n- train.py", "command:\n  - python\n  - 3"),
        ("command:\n- python\n- train.py", "command:\n  - python\n - x"), ("command:\n- python", "command: []\n- python"),
        ("command:\n- python\n- train.py", "command: python"),
        ("- train.py", "- -c"), ("- train.py", "- --lr=0.1"), ("- train.py", "- -1"), ("- train.py", "- -1.5"),
        ("- train.py", "- ---"), ("- train.py", "- -"), ("- train.py", "- ?x"), ("- train.py", "- :x"),
        ("- train.py", "- '-c'"), ("- train.py", "- -.inf"), ("- train.py", "- -0x1"), ("- train.py", "- a #b"),
        ("- train.py", "- - x"), ("- train.py", "- ? x"), ("name: keen-hippo", "name: - x"), ("skipped: []", "skipped:\n- path: a\n  reason: big"),
        ("skipped: []", "skipped:\n- a"), ("description: null", "description: null\ndescription: x"),
        ("description: null", "# a comment\ndescription: x"), ("description: null", "description: |\n  text"),
        ("description: null", "null: x"), ("description: null", "unknown_key: [1, {a: b}]"),
        ("user: bench", "user: bench "), ("user: bench", "user:bench"), ("user: bench", "user: a\n  continued"),
        ("format: 1", "---\nformat: 1"), ("format: 1", "%YAML 1.1\n---\nformat: 1"),
    ]
    out = [BASE, BASE.replace("\n", "\r\n"), BASE.rstrip("\n"), "", "- a\n", "x\n", "\ufeff" + BASE]
    for old, new in swaps:
        assert old in BASE, old
        out.append(BASE.replace(old, new, 1))
    return out


def real(data: bytes) -> dict | None:
    try:
        return RunInfo.from_yaml(data).as_dict()
    except CorruptRecord:
        return None


@pytest.mark.parametrize("text", variants())
def test_lite_reader_agrees_with_the_yaml_loader(text: str) -> None:
    data = text.encode()
    try:
        fields = runyaml_lite.run_fields(data)
    except runyaml_lite.Corrupt:
        fields = None
    if fields is runyaml_lite.FALLBACK:
        return  # the hook hands this one to the real loader
    expected = real(data)
    if expected is None or fields is None:
        assert fields == expected
    else:
        assert {k: expected[k] for k in fields} == fields  # what the lite reader gives is the loader's
        assert all(expected[k] == getattr(RunInfo("x", "x", "x"), k) for k in expected.keys() - fields.keys())


def test_the_subset_gitexp_writes_never_needs_the_loader() -> None:
    assert runyaml_lite.run_fields(BASE.encode()) == real(BASE.encode()) | {}  # all fields, same values
    info = RunInfo("1m8mwb5p9nyj3gq3", "calm-fox", "default", status="FAILED", start_time="t", command=["a", "1"],
                   baseline="0" * 40, exit_code=2, skipped=[{"path": "big.bin", "reason": "size"}])
    data = info.to_yaml() if hasattr(info, "to_yaml") else None
    if data is not None:
        fields = runyaml_lite.run_fields(data)
        assert fields is runyaml_lite.FALLBACK or fields == real(data)


def test_copies_of_constants_match() -> None:
    assert runyaml_lite.FORMAT == record.FORMAT
    assert runyaml_lite.STATUSES == record.STATUSES
    assert runyaml_lite.MAX_YAML_BYTES == yamlio.MAX_YAML_BYTES
    assert set(runyaml_lite.FIELDS) == set(RunInfo.__slots__)
    assert (runyaml_lite._TEXT, runyaml_lite._OPTIONAL_TEXT) == (record._TEXT, record._OPTIONAL_TEXT)
    assert gitlite.ID_LENGTH == names.ID_LENGTH and gitlite._B32 == set(names._B32)
    for text in ("1m8mwb5p9nyj3gq3", "1m8mwb5p9nyj3gqi", "short", "", "1M8MWB5P9NYJ3GQ3"):
        assert gitlite.is_run_id(text) == names.is_run_id(text)


def test_id_prefix_is_how_run_ids_begin() -> None:
    from gitexp.services.hooks.matching import id_prefix, id_time_ms

    for ms in (1, 31, 32, 1_764_460_000_000, 1_764_460_000_001, 10**13):
        run_id = names.new_run_id(ms)
        assert run_id[:9] == id_prefix(ms) and id_time_ms(run_id) == ms
        assert (names.new_run_id(ms + 1) >= id_prefix(ms + 1) > run_id) and names.new_run_id(ms - 1) < id_prefix(ms)


def test_run_refs_picked_by_name_and_folder_time(repo: Path) -> None:
    """refscan.refs_named: packed and loose refs, names before `min_name` and stale folders skipped."""
    from gitexp.store.refscan import refs_named

    sha = git(repo, "rev-parse", "HEAD").strip()
    for name in ("default/0aaaaaaaaaaaaaaa", "default/1bbbbbbbbbbbbbbb", "old/1ccccccccccccccc"):
        git(repo, "update-ref", f"refs/gitexp/runs/{name}", sha)
    git(repo, "pack-refs", "--all")  # the first three packed
    git(repo, "update-ref", "refs/gitexp/runs/default/1ddddddddddddddd", sha)
    common = str(repo / ".git")
    everything = refs_named(common, "refs/gitexp/runs/", lambda n: True)
    assert sorted(everything) == ["refs/gitexp/runs/default/0aaaaaaaaaaaaaaa", "refs/gitexp/runs/default/1bbbbbbbbbbbbbbb",
                                  "refs/gitexp/runs/default/1ddddddddddddddd", "refs/gitexp/runs/old/1ccccccccccccccc"]
    assert set(everything.values()) == {sha}
    assert len(refs_named(common, "refs/gitexp/runs/", lambda n: True, "1")) == 3
    assert list(refs_named(common, "refs/gitexp/runs/", lambda n: n.startswith("1d"))) == [
        "refs/gitexp/runs/default/1ddddddddddddddd"]
    # a loose ref in a folder last changed before `since` is not looked at (packed ones still are)
    os.utime(repo / ".git" / "refs" / "gitexp" / "runs" / "default", (1, 1))
    assert "refs/gitexp/runs/default/1ddddddddddddddd" not in refs_named(common, "refs/gitexp/runs/", lambda n: True,
                                                                         since=1000)


def test_git_processes_without_subprocess(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitexp.store import gitproc

    assert gitproc.git(str(repo), "rev-parse", "--is-inside-work-tree") == "true\n"
    assert gitproc.index_tree(str(repo)) == git(repo, "rev-parse", "HEAD^{tree}").strip()
    with pytest.raises(gitproc.GitCommandError, match="git rev-parse failed: fatal: Needed a single revision"):
        gitproc.git(str(repo), "rev-parse", "--verify", "no-such-rev")
    proc = gitproc.start(str(repo), "cat-file", "--batch", stdin=True, stderr=False)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"HEAD\n")
    proc.stdin.flush()
    assert proc.stdout.readline().split()[1] == b"commit"
    proc.stdin.close()
    assert proc.wait() == 0
    proc.stdout.close()
    monkeypatch.setenv("PATH", str(repo))  # no git there
    with pytest.raises(gitproc.GitCommandError, match="the git command is not installed"):
        gitproc.git(str(repo), "status")


def test_trailer_lines() -> None:
    from gitexp.services.hooks.trailers import run_ids_in

    message = ("Subject\n\nGitexp-Run: 1m8mwb5p9nyj3gq3\ngitexp-run:1m8mwb5p9nyj3gq4  \r\n"
               "Gitexp-Run: two words\nGitexp-Run:\nX-Gitexp-Run: 1m8mwb5p9nyj3gq5\n  Gitexp-Run: 1m8mwb5p9nyj3gq6\n")
    assert run_ids_in(message) == ["1m8mwb5p9nyj3gq3", "1m8mwb5p9nyj3gq4", "1m8mwb5p9nyj3gq6"]


ODD_IDS = ["0123456789012345", "1234567890123e45", "0b01010101010101", "0x1234567890abcd", "eeeeeeeeeeeeeeee",
           "1m8mwb5p9nyj3gq3", "a" * 16]
ODD_HEX = ["0" * 40, "1234e" + "5" * 35, "0b" + "01" * 19, "ab" * 20, "e" * 64, "f" * 64, "0123456789abcdef" * 4]


@pytest.mark.parametrize("seed", sampled(list(range(4)), every=2))
def test_the_one_match_reader_reads_as_the_loader_or_declines(seed: int) -> None:
    """`canonical` on run.yaml as gitexp writes it with odd values in every field: the loader's fields, or None."""
    from tests.test_yamlfast import ODD_STRINGS

    rng = random.Random(seed)
    usual = ["2026-11-30T00:05:44.777Z", "3.12.1", "feature/x", "John Smith", "brisk-otter", "x" * 200, ""]
    read = 0
    for _ in range(300):
        text = lambda: rng.choice(ODD_STRINGS if rng.random() < 0.1 else usual)  # noqa: E731
        info = RunInfo(rng.choice(ODD_IDS), text(), text(), status=rng.choice(record.STATUSES), start_time=text(),
                       end_time=rng.choice([None, text()]), user=text(), host=text(),
                       command=[text() for _ in range(rng.randrange(3))], exit_code=rng.choice([None, 0, -1, 2**31 - 1]),
                       baseline=rng.choice([None, *ODD_HEX]), branch=rng.choice([None, text()]),
                       dirty=rng.random() < 0.5, gitexp_version=text(), python_version=text(),
                       parent_run=rng.choice([None, text()]), description=rng.choice([None, text()]))
        data = info.to_yaml()
        fields = runyaml_lite.canonical(data.decode())
        if fields is None:
            continue
        read += 1
        expected = real(data)
        assert expected is not None and fields == {k: expected[k] for k in fields}, data
        assert all(expected[k] == getattr(RunInfo("x", "x", "x"), k) for k in expected.keys() - fields.keys())
    assert read > 80  # many records are read by the one match


@pytest.mark.parametrize("text", variants())
def test_the_one_match_reader_declines_what_the_loader_reads_otherwise(text: str) -> None:
    fields = runyaml_lite.canonical(text)
    expected = real(text.encode())
    assert fields is None or (expected is not None and fields == {k: expected[k] for k in fields}), text
