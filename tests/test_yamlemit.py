"""The fast YAML writer writes exactly ruamel's bytes, or declines."""

from __future__ import annotations

import io
import itertools
import random
import subprocess
import sys

import pytest

from gitexp.store import _ruamel, yamlemit, yamlio
from gitexp.store.record import Artifact, RunInfo, encode_record


def ruamel_dump(value: object) -> bytes:
    buf = io.StringIO()
    _ruamel.dumper.dump(value, buf)
    return buf.getvalue().encode()


TRICKY = ["", "a", "true", "True", "yes", "null", "~", "1", "1.0", "0x1", "1e3", ".5", "2026-11-30T08:10:24.123Z",
          "2026-11-30", "1_000", "0o17", ".inf", ".nan", "NaN", "-", "---", "...", "=", "<<", "--lr=0.1", "3.11.7",
          "-c", "_1", "/", "a-", "--", "-1", "+1", "1:2", "0755", "08", "0b1", ".a", "1.", "1.e5", "e1", "a b",
          "a  b", " a", "a ", "a: b", "a #b", "#a", "- a", "a'b", "'", '"', "a\tb", "a\nb", "é", "日本", "@a", "{a",
          "x" * 129, "x y" * 400, "x" * 5000]


def random_value(rng: random.Random, depth: int = 0) -> object:
    r = rng.random()
    if depth < 3 and r < 0.2:
        return {random_text(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 3 and r < 0.35:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if r < 0.7:
        return random_text(rng)
    return rng.choice([None, True, False, 0, -3, 2**70, 0.0, -0.0, 0.01, 1e-5, 1e20, 1e16, float("nan"),
                       float("inf"), -float("inf"), 5e-324, rng.random() * 10 ** rng.randint(-30, 30)])


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(TRICKY)
    return "".join(rng.choice("aZ09_-./=+,:#' \t!&*?|>%@`{}[]~<\\é\n") for _ in range(rng.randint(0, 6)))


def test_random_documents_match_ruamel() -> None:
    rng = random.Random(8)
    fast = 0
    for _ in range(1500):
        value = random_value(rng, 0) if rng.random() < 0.5 else {random_text(rng): random_value(rng, 1)
                                                                  for _ in range(rng.randint(1, 5))}
        got = yamlemit.dump(value)
        if got is not None:
            fast += 1
            assert got == ruamel_dump(value), value
    assert fast > 100  # the common shapes are really written fast


@pytest.mark.slow  # exhaustive over short strings: seconds; CI runs it with -m slow
def test_every_short_string_matches_ruamel() -> None:
    written = 0
    for length in range(4):
        for chars in itertools.product("a0_-.=+,:#' !&*?|>%@{~<\\\"e", repeat=length):
            value = {"k": [{"".join(chars): "".join(reversed(chars))}]}
            got = yamlemit.dump(value)
            if got is not None:
                written += 1
                assert got == ruamel_dump(value), value
    assert written > 2000


@pytest.mark.parametrize("value", [{}, [], {"a": {}}, {"a": []}, [{}], [[1, 2], [3]],
                                   {"a": [{"x": 1, "y": [1, {"z": None}]}, {}]}, {"x" * 101: 1}])
def test_shapes(value) -> None:
    got = yamlemit.dump(value)
    assert got is None or got == ruamel_dump(value)


def test_declines_what_it_is_unsure_of() -> None:
    for value in ({"a": "a'b"}, {"a": "a\tb"}, {"a": "é"}, {"x" * 200: 1}, {1: 2}, "text", 3, None,
                  {"a": object()}, {"a": "x y" * 400}):
        assert yamlemit.dump(value) is None


def test_records_are_written_without_ruamel() -> None:
    """A run record of the usual shape: the same bytes, and ruamel never imported (fresh process)."""
    info = RunInfo(id="0123456789abcdef", name="brisk-otter", experiment="default",
                   start_time="2026-11-30T08:10:24.123Z", user="ann", host="box-1",
                   command=["python", "train.py", "--lr=0.1", "true"], baseline="ab" * 20,
                   branch="main", skipped=[{"path": ".env", "size": 12, "reason": "looks like a credential (.env*)"}],
                   gitexp_version="0.1.0", python_version="3.11.7")
    files = encode_record(info, {"lr": 0.01, "model": {"depth": 4, "act": "relu"}, "tags": ["a", "b"]},
                          {"team": "vision"}, {"loss": [(0, 0.5, 1), (1, 0.25, 2)]},
                          [Artifact("model.pkl", 10, "0" * 64, True)])
    for name, data in files.items():
        if name.endswith(".yaml"):
            assert data == ruamel_dump(yamlio._plain(yamlio.load_record(data, name))), name
    code = ("import sys; from gitexp.store.record import RunInfo, encode_record;"
            "encode_record(RunInfo(id='0123456789abcdef', name='n', experiment='default',"
            " start_time='2026-11-30T08:10:24Z', command=['true']), {'lr': 0.1}, {'a': 'b'}, {'m': [(0, 1.0, 1)]}, []);"
            "print('ruamel' in ' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
