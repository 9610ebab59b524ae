"""The fast record reader returns what ruamel returns, or abstains (FAIL)."""

from __future__ import annotations

import json
import math
import random
import string
import subprocess
import sys

import pytest

from gitexp.errors import CorruptRecord
from gitexp.store import yamlfast, yamlio
from gitexp.store.record import RunInfo, encode_record, summarize
from tests.helpers import sampled

ODD_STRINGS = [
    "", " ", "a ", " a", "true", "True", "yes", "no", "on", "off", "y", "n", "null", "Null", "~", "-", "- a", "a: b",
    "a:b", "a #b", "#a", "a#b", "'", "''", '"', "a'b", 'a"b', "0", "007", "0x1f", "1e5", "1.5", "-1", "+1", ".5",
    ".nan", ".inf", "-.inf", "1_000", "2024-01-01", "2024-01-01T00:00:00Z", "12:30", "<<", "=", "&a", "*a", "!x",
    "|", ">", "%", "@a", "`a", "a\nb", "a\tb", "\x85", "a\u2028b", "\ufeffa", "é", "日本", "a[0]", "{a}", "a, b",
    "?", "? a", "a?", "[]", "{}", "a\\b", "C:\\x", "/abs/path", "_x", "x" * 300, "NaN", "inf", "1.0e+20",
    "0.1.0", "3.11.7", "1.2.3.4", "1.2.", "1..2", "--lr=0.1", "-x", "--", "-1_0", "-.5",
    "1m8n5bpej0k1qvk7", "705921a3e2476f582932de3514d6fe176c22ac87", "1234e5678", "0x1a", "0b1", "0o7", "1 2",
    "2002-12-14", "2002-12-14 21:59:43", "12e", "1_000a", "1e", "0e0", "9f", "1-2-3", "1.2e+3x",
]


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice(ODD_STRINGS)
    if kind == 1:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(12)))
    if kind == 2:
        return rng.choice([0, 1, -5, 10 ** 30, True, False, None])
    if kind == 3:
        return rng.choice([0.0, -0.0, 1e-7, 1e20, 3.14, -2.5e-300, math.inf, -math.inf, math.nan, rng.random()])
    if kind == 4:
        tail = "".join(rng.choice(string.ascii_letters + "_-./ ") for _ in range(8))
        return (rng.choice(string.ascii_letters) + tail).rstrip()
    if kind == 5:
        return rng.random() * 10 ** rng.randrange(-20, 20)
    if kind == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [rng.choice(ODD_STRINGS + ["lr", "model", "a/b", "train loss", "x.y"]) for _ in range(rng.randrange(5))]
    return {k: _random_value(rng, depth + 1) for k in keys}


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    return a == b


def _full(data: bytes) -> object:
    try:
        return yamlio.load(data)
    except CorruptRecord:
        return CorruptRecord


@pytest.mark.parametrize("seed", sampled(list(range(4)), every=2))
def test_fast_reader_agrees_with_ruamel_on_what_gitexp_writes(seed: int) -> None:
    rng = random.Random(seed)
    read = abstained = 0
    for _ in range(500):
        value = {rng.choice(["lr", "model", "a/b", "x.y", "p1"]): _random_value(rng) for _ in range(3)}
        data = yamlio.dump(value)
        fast = yamlfast.parse(data)
        if fast is yamlfast.FAIL:
            abstained += 1
            continue
        read += 1
        assert _same(fast, _full(data)), data
    assert read > 100  # the subset covers much of even this odd data


def test_fast_reader_reads_whole_records() -> None:
    info = RunInfo(id="0" * 16, name="brisk-otter", experiment="default", status="FINISHED",
                   start_time="2024-01-01T00:00:00.000Z", command=["python", "train.py", "--lr=0.1"],
                   baseline="ab" * 20, skipped=[{"path": "big.bin", "reason": "over 10 MiB"}])
    files = encode_record(info, {"lr": 0.01, "model": {"depth": 4, "act": "relu"}, "seed": 7},
                          {"stage": "dev", "note": "it's 'quoted'"},
                          {"acc": [(0, 0.5, 1), (1, math.nan, 2)], "loss": [(0, 1.0, 1)]}, [])
    for name in ("run.yaml", "params.yaml", "tags.yaml", "summary.yaml", "artifacts.yaml"):
        fast = yamlfast.parse(files[name])
        assert fast is not yamlfast.FAIL, files[name]
        assert _same(fast, _full(files[name])), files[name]
    assert _same(yamlfast.parse(files["summary.yaml"])["acc"], summarize([(0, 0.5, 1), (1, math.nan, 2)]))


@pytest.mark.parametrize("doc", [
    b"a: 1\na: 2\n", b"a: &x 1\nb: *x\n", b"a: !!python/object x\n", b"a: [1, 2]\n", b"a: {b: 1}\n",
    b"a: |\n  text\n", b"a: 2024-01-01\n", b"# comment\na: 1\n", b"a: 1 # comment\n", b"---\na: 1\n",
    b"a:\n   b: 1\n  c: 2\n", b"a: b\n  c\n", b"? a\n: 1\n", b"1: a\n", b"true: a\n", b"a: 'x\n  y'\n",
    b"a:\n- - 1\n  - 2\n", b"a: \"x\\ty\"\n", b"a:\tb\n", b"\xff: 1\n", b"a: 0o17\n", b"a: 1_000\n",
])
def test_fast_reader_abstains_outside_the_subset(doc: bytes) -> None:
    fast = yamlfast.parse(doc)
    assert fast is yamlfast.FAIL or _same(fast, _full(doc)), doc


def test_records_still_go_through_the_limits() -> None:
    with pytest.raises(CorruptRecord, match="nested more than"):
        yamlio.load_record(b"a:\n" + b"".join(b"  " * n + b"b:\n" for n in range(1, 150)), "params.yaml")
    with pytest.raises(CorruptRecord, match="aliases"):
        yamlio.load_record(b"a: &x [1]\n" + b"".join(b"b%d: *x\n" % n for n in range(150)), "params.yaml")
    with pytest.raises(CorruptRecord, match="timestamp|quote dates|datetime|date"):
        yamlio.load_record(b"a: 2024-01-01\n", "params.yaml")


@pytest.mark.parametrize("seed", sampled(list(range(3)), every=3))
def test_summaries_read_as_ruamel_reads_them(seed: int) -> None:
    """summary.yaml as `summarize` writes it, with odd keys and floats, through its own fast reader."""
    rng = random.Random(seed)
    floats = [0.0, -0.0, 1e-7, 1e20, 1e-300, 3.14, math.inf, -math.inf, math.nan, 5e-324, 123456789.0]
    shaped = json_shaped = 0
    for _ in range(300):
        keys = {rng.choice(ODD_STRINGS) if rng.random() < 0.05 else rng.choice(["acc", "train/loss", "val acc", "a.b"])
                for _ in range(rng.randrange(1, 6))}
        points = {k: [(s, rng.choice(floats + [rng.random() * 10 ** rng.randrange(-9, 9)]), s)
                      for s in range(rng.randrange(1, 4))] for k in keys}
        data = yamlio.dump({k: summarize(p) for k, p in sorted(points.items())})
        fast = yamlfast.parse(data)
        shaped += yamlfast._SUMMARY.fullmatch(data.decode()) is not None
        assert fast is yamlfast.FAIL or _same(fast, _full(data)), data
        texts = yamlfast.summary_json(data)  # what a cold listing stores, undecoded
        if texts is not yamlfast.FAIL:
            assert _same(json.loads(texts[0]), fast), data
            assert _same(json.loads(texts[1]), {k: v["last"] for k, v in fast.items()}), data
            json_shaped += 1
    assert shaped > 100 and json_shaped == shaped  # the summary readers took most of them


@pytest.mark.parametrize("doc", [
    b"a: 1\nb:\n- x\n- 2\nc: []\n", b"a:\nb: 1\n", b"- a\n- b\n", b"a:\n- x\n- - y\n", b"a: 1\n- x\n",
    b"a:\n-\n", b"a:\n- \n", b"a: \nb: 1\n", b"a: \n- x\n", b"- x\n", b"a:\n- x\nb: 2\n- y\n", b"a: 1\n\n",
    b"a:: 1\n", b"a:b\n", b":\n", b"a : 1\n", b"a: b: c\n",
    b"a: 'it''s'\nb: ''\n", b"a: 1\n\nb: 2\n", b"a: 1\nb: 2", b"acc:\n  last: .nan\n  step: 0\n"
    b"  min: .nan\n  max: .nan\n  count: 1\nacc:\n  last: 1.0\n  step: 0\n  min: 1.0\n  max: 1.0\n  count: 1\n",
])
def test_the_shape_readers_read_as_ruamel_or_abstain(doc: bytes) -> None:
    fast = yamlfast.parse(doc)
    assert fast is yamlfast.FAIL or _same(fast, _full(doc)), doc
    general = yamlfast._general(doc.decode())
    assert general is yamlfast.FAIL or fast is yamlfast.FAIL or _same(fast, general), doc


def test_importing_the_reader_compiles_nothing_until_it_parses() -> None:
    """`gitexp run` imports it and may parse nothing: its patterns (~10 ms) wait for the first parse."""
    script = "import gitexp.store.yamlfast as y; print(y._compiled); print(y.parse(b'a: 1\\n'), y._compiled)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["False", "{'a': 1} True"]


@pytest.mark.parametrize("number", ["1.e5", "1E5", "1.5e-3", "0.0", "-0.0", ".NaN", ".NAN", "-.INF", ".Inf", "1e400",
                                    "-1e-400", "123456789012345678901234567890.5", "0", "-0", "7"])
def test_summary_json_reads_back_as_the_summary(number: str) -> None:
    """Numbers gitexp does not write itself (another writer's summary.yaml) keep their value in the JSON."""
    data = f"m:\n  last: {number}\n  step: -0\n  min: {number}\n  max: 1.0\n  count: 3\n".encode()
    fast = yamlfast.parse(data)
    assert fast is yamlfast.FAIL or _same(fast, _full(data))
    texts = yamlfast.summary_json(data)
    if fast is yamlfast.FAIL or not isinstance(fast["m"]["last"], float):
        assert texts is yamlfast.FAIL  # ints are not `summarize`'s shape: decoded the usual way
    else:
        assert _same(json.loads(texts[0]), fast) and _same(json.loads(texts[1]), {"m": fast["m"]["last"]})


@pytest.mark.parametrize("seed", range(3))
def test_flat_json_reads_back_as_ruamel_reads_the_mapping(seed: int) -> None:
    """params.yaml of numbers goes to the cache row's JSON as it is spelled: `json.loads` of it is ruamel's value."""
    rng = random.Random(seed)
    shaped = 0
    for _ in range(400):
        value = {rng.choice(["lr", "p1", "a/b", "x.y", "train loss", rng.choice(ODD_STRINGS)]):
                 rng.choice([rng.random(), rng.randrange(-10**6, 10**6), 1e-300, -0.0, 1e20, None, True, False, [], {},
                             math.nan, math.inf, rng.choice(ODD_STRINGS)]) for _ in range(rng.randrange(1, 6))}
        data = yamlio.dump(value)
        text = yamlfast.flat_json(data)
        if text is not None:
            shaped += 1
            assert _same(json.loads(text), _full(data)), data
            assert _same(yamlfast.parse(data), _full(data)), data
    assert shaped > 100


@pytest.mark.parametrize("doc", [
    b"a: 1\nb: 2", b"a: 1\na: 2\n", b"a: NaN\n", b"a: Infinity\n", b"a: -Infinity\n", b"a: [1, 2]\n", b"a: {b: 1}\n",
    b"a: {: 1, \n: 2}\n", b'a: "x"\n', b"a: 1 # c\n", b"a: b: 1\n", b"a:1\nb: 2: 3\n", b"true: 1\n", b"1: 2\n",
    b"a : 1\n", b"a: 1\n--- b: 2\n", b"a: 0x1f\n", b"a: 1_000\n", b"a: 01\n", b"a: .5\n", b"a: 1.\n", b"a: 1e5\n",
    b"a: -0\n", b"a: 1E+5\n", b"a: null\nb: true\nc: []\nd: {}\n", b"a: nan\n", b"a: \\u0041\n", b"a\\u0041: 1\n",
    b"a: 1\n\n", b"? a\n: 1\n", b"a: &x 1\n", b"a: !!str 1\n", b"a:  1  \n", b"\xef\xbb\xbfa: 1\n", b"a: 1\r\n",
])
def test_flat_json_abstains_unless_json_reads_it_as_ruamel(doc: bytes) -> None:
    text = yamlfast.flat_json(doc)
    assert text is None or _same(json.loads(text), _full(doc)), doc
