"""The git hooks' YAML-free reader of run.yaml gives what the real loader gives, or defers to it."""

from __future__ import annotations

import pytest

from gitexp import names
from gitexp.errors import CorruptRecord
from gitexp.store import gitlite, record, runyaml_lite, yamlio
from gitexp.store.record import RunInfo

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
        return dict(RunInfo.from_yaml(data).__dict__)
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
    assert set(runyaml_lite.FIELDS) == set(RunInfo.__dataclass_fields__)
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
