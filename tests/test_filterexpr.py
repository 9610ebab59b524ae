"""Tests for gitexp.services.catalog.filterexpr: filter grammar, evaluation semantics and sorting."""

from __future__ import annotations

import time

import pytest

from gitexp.errors import FilterSyntaxError
from gitexp.services.catalog.filterexpr import (
    MISSING,
    Filter,
    SortKey,
    like_regex,
    lookup,
    parse_filter,
    parse_sort,
    sort_rows,
)


def make_row(params=None, metrics=None, tags=None, **attrs) -> dict:
    attributes = {
        "status": "FINISHED", "run_name": "brisk-otter", "run_id": "01jc9abc", "experiment": "default",
        "start_time": 1700000000000, "end_time": 1700000005000, "duration": 5.0, "user": "ann",
    }
    attributes.update(attrs)
    return {"params": params or {}, "metrics": metrics or {}, "tags": tags or {}, "attributes": attributes}


ROW = make_row(
    params={"lr": 0.01, "optimizer": {"name": "adam", "lr": 0.001}, "layers": 3, "use_bn": True,
            "str_lr": "0.01", "model": "resnet-50", "quote": "it's", "a.b": 1, "a": {"b": 2}},
    metrics={"acc": 0.93, "train/loss": 0.1, "nan": float("nan"), "inf": float("inf"),
             "ninf": float("-inf"), "my metric": 7.0, "zero": 0},
    tags={"stage": "best", "note": "a.b%c", "mixed": "Hello World", "num": "10"},
)


def m(text: str, row: dict = ROW) -> bool:
    result = parse_filter(text)(row)
    assert isinstance(result, bool)
    return result


def err(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    return info.value


# ---------------------------------------------------------------- operators per entity

@pytest.mark.parametrize("text, expected", [
    ("metrics.acc = 0.93", True), ("metrics.acc == 0.93", True), ("metrics.acc != 0.93", False),
    ("metrics.acc < 0.94", True), ("metrics.acc <= 0.93", True), ("metrics.acc > 0.93", False),
    ("metrics.acc >= 0.93", True), ("metrics.acc > 0.5", True), ("metrics.acc < 0.5", False),
    ("metrics.zero = 0", True), ("metrics.zero = 0.0", True), ("metrics.acc>0.9", True),
    ("metrics.acc<=0.93", True), ("metrics.acc!=1", True),
])
def test_metric_operators(text, expected):
    assert m(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("params.lr = 0.01", True), ("params.lr != 0.01", False), ("params.lr < 0.1", True),
    ("params.lr <= 0.01", True), ("params.lr > 0.001", True), ("params.lr >= 0.02", False),
    ("params.layers = 3", True), ("params.layers = 3.0", True), ("params.layers > 2", True),
    ("params.model = 'resnet-50'", True), ("params.model != 'resnet-50'", False),
    ("params.model < 'z'", True), ("params.model > 'z'", False), ("params.model >= 'resnet'", True),
])
def test_param_operators(text, expected):
    assert m(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("tags.stage = 'best'", True), ("tags.stage != 'best'", False), ("tags.stage = \"best\"", True),
    ("tags.stage < 'c'", True), ("tags.stage > 'c'", False), ("tags.stage <= 'best'", True),
    ("tags.stage >= 'best'", True), ("tags.stage LIKE 'b%'", True), ("tags.stage ILIKE 'B%'", True),
    ("tags.stage IN ('a', 'best')", True), ("tags.stage NOT IN ('a', 'best')", False),
    ("tags.num = 10", True), ("tags.num > 9", True), ("tags.num > '9'", False),
])
def test_tag_operators(text, expected):
    assert m(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("attributes.status = 'FINISHED'", True), ("status = 'FINISHED'", True), ("status = 'finished'", False),
    ("status != 'RUNNING'", True), ("run_name = 'brisk-otter'", True), ("name = 'brisk-otter'", True),
    ("attributes.name LIKE 'brisk%'", True), ("run_id = '01jc9abc'", True), ("id LIKE '01jc%'", True),
    ("experiment = 'default'", True), ("user = 'ann'", True), ("attr.user = 'ann'", True),
    ("attribute.user IN ('bob', 'ann')", True), ("start_time > 1600000000000", True),
    ("start_time = 1700000000000", True), ("STATUS = 'FINISHED'", True),
])
def test_attribute_operators(text, expected):
    assert m(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("end_time >= 1700000005000", True), ("end_time < 1700000005000", False),
    ("duration = 5", True), ("duration > 4.5", True), ("duration <= 4", False),
])
def test_time_attributes(text, expected):
    assert m(text) is expected


def test_entity_on_right_hand_side_is_rejected():
    assert err("start_time < end_time").position == 13
    assert err("metrics.a > metrics.b").position == 12


def test_running_run_has_no_end_time():
    row = make_row(end_time=None, duration=None, status="RUNNING")
    assert not m("end_time > 0", row)
    assert not m("end_time != 0", row)
    assert not m("duration < 100", row)
    assert m("not end_time > 0", row)
    assert m("status = 'RUNNING'", row)


def test_entity_prefix_aliases():
    for prefix in ("metrics", "metric", "METRICS"):
        assert m(f"{prefix}.acc > 0.9")
    for prefix in ("params", "param"):
        assert m(f"{prefix}.lr = 0.01")
    for prefix in ("tags", "tag"):
        assert m(f"{prefix}.stage = 'best'")
    for prefix in ("attributes", "attribute", "attr"):
        assert m(f"{prefix}.status = 'FINISHED'")


# ---------------------------------------------------------------- numbers vs strings

def test_param_stored_as_string_compares_numerically():
    assert m("params.str_lr = 0.01")
    assert m("params.str_lr < 0.1")
    assert m("params.str_lr = 1e-2")
    assert m("params.str_lr = '0.01'")
    assert not m("params.str_lr = '1e-2'")  # string literal -> string comparison


def test_param_float_against_string_literal_uses_repr():
    assert m("params.lr = '0.01'")
    assert m("params.layers = '3'")
    assert not m("params.layers = '3.0'")
    assert m("params.use_bn = 'true'")
    assert not m("params.use_bn = 'True'")


def test_numeric_literal_against_non_numeric_value_is_false():
    assert not m("params.model = 1")
    assert not m("params.model != 1")
    assert not m("params.model > 1")
    assert not m("params.optimizer = 1")  # a nested mapping is not a scalar
    assert not m("params.optimizer != 'x'")
    assert not m("params.use_bn = 1")  # bools are not numbers


def test_cli_style_string_params():
    row = make_row(params={"lr": "0.01", "epochs": "10", "name": "x"})
    assert m("params.lr = 0.01", row)
    assert m("params.epochs > 9", row)  # numeric, not lexicographic
    assert not m("params.epochs > '9'", row)  # lexicographic: '10' < '9'
    assert not m("params.name > 0", row)
    assert m("params.lr IN (0.01, 0.1)", row)


def test_underscore_string_is_not_numeric():
    row = make_row(params={"n": "1_000"})
    assert not m("params.n = 1000", row)
    assert m("params.n = '1_000'", row)


def test_string_comparison_on_metric_value():
    assert m("metrics.acc > 'abc'") is False  # '0.93' < 'abc'
    assert m("metrics.acc = '0.93'")


def test_number_literal_forms():
    assert m("metrics.acc > .5")
    assert m("metrics.acc > 5e-1")
    assert m("metrics.acc > -2.5")
    assert m("metrics.acc < +1")
    assert m("metrics.acc > 1E-3")
    assert m("params.lr = 1.e-2")


def test_bool_literals():
    assert m("params.use_bn = true")
    assert m("params.use_bn = TRUE")
    assert not m("params.use_bn = false")
    assert m("params.use_bn != false")
    assert m("params.use_bn IN (true)")
    assert not m("params.use_bn NOT IN (true, false)")
    row = make_row(params={"flag": "True", "n": 1})
    assert m("params.flag = true", row)
    assert not m("params.n = true", row)
    assert not m("params.n != true", row)


def test_numpy_scalars_are_numbers():
    np = pytest.importorskip("numpy")
    row = make_row(metrics={"acc": np.float64(0.93), "n": np.int64(4), "bad": np.float64("nan")})
    assert m("metrics.acc > 0.9", row)
    assert m("metrics.n = 4", row)
    assert m("metrics.n = '4'", row)
    assert not m("metrics.bad = 1", row) and m("metrics.bad != 1", row)
    assert not m("metrics.bad LIKE '%'", row) and m("metrics.acc LIKE '0.9%'", row)
    assert m("metrics.bad != 'x'", row) and not m("metrics.bad = 'nan'", row)
    assert m("metrics.n IN (3, 4)", row) and not m("metrics.n NOT IN (4)", row)


def test_large_integer_attribute_compared_exactly():
    assert m("start_time = 1700000000000")
    assert not m("start_time = 1700000000001")
    assert m("start_time < 1700000000001")


# ---------------------------------------------------------------- precedence

def test_and_binds_tighter_than_or():
    # true or (false and false) -> true
    assert m("metrics.acc > 0.9 or metrics.acc < 0 and tags.stage = 'x'")
    # (false and true) or true -> true ; false and (true or true) would be false
    assert m("metrics.acc < 0 and metrics.acc > 0.9 or tags.stage = 'best'")


def test_parentheses_override_precedence():
    assert not m("(metrics.acc > 0.9 or metrics.acc < 0) and tags.stage = 'x'")
    assert m("((metrics.acc > 0.9))")


def test_not_binds_tighter_than_and():
    # (not true) and false -> false ; not (true and false) would be true
    assert not m("not metrics.acc > 0.9 and tags.stage = 'x'")
    # (not true) or true -> true ; not (true or true) would be false
    assert m("not metrics.acc > 0.9 or tags.stage = 'best'")
    # not (true or ...) would be False; (not true) or true is True
    assert not m("not (metrics.acc > 0.9 or tags.stage = 'best')")


def test_double_not_and_chains():
    assert m("not not metrics.acc > 0.9")
    assert m("metrics.acc > 0 and metrics.acc < 1 and tags.stage = 'best' and params.lr = 0.01")
    assert m("metrics.acc < 0 or metrics.acc > 5 or tags.stage = 'x' or params.lr = 0.01")
    assert not m("metrics.acc < 0 or metrics.acc > 5 or tags.stage = 'x'")


def test_keywords_are_case_insensitive():
    assert m("metrics.acc > 0.9 AND tags.stage = 'best'")
    assert m("metrics.acc < 0 Or tags.stage = 'best'")
    assert m("NOT metrics.acc < 0")
    assert m("tags.stage like 'b%'")
    assert m("tags.stage iLiKe 'B%'")
    assert m("params.lr in (0.01)")
    assert m("params.lr Not In (0.1)")


# ---------------------------------------------------------------- quoting and keys

def test_string_quoting_and_escapes():
    assert m("params.quote = 'it\\'s'")
    assert m('params.quote = "it\'s"')
    assert m('tags.x = "say \\"hi\\""', make_row(tags={"x": 'say "hi"'}))
    assert m("tags.x = 'back\\\\slash'", make_row(tags={"x": "back\\slash"}))
    assert m("tags.x = 'a and b or not c'", make_row(tags={"x": "a and b or not c"}))
    assert m("tags.x = ''", make_row(tags={"x": ""}))


def test_quoted_keys():
    assert m("metrics.`my metric` = 7")
    assert m('metrics."my metric" = 7')
    assert m("tags.`odd key (1)` = 'v'", make_row(tags={"odd key (1)": "v"}))
    assert m("tags.`back\\`tick` = 'v'", make_row(tags={"back`tick": "v"}))
    assert parse_filter("metrics.`my metric` > 1").referenced() == {("metrics", "my metric")}


def test_slash_and_dash_keys():
    assert m("metrics.train/loss < 0.2")
    assert m("metrics.train/loss<0.2")
    row = make_row(metrics={"val-loss": 0.5, "a/b.c-d_e": 1.0})
    assert m("metrics.val-loss = 0.5", row)
    assert m("metrics.a/b.c-d_e = 1", row)


def test_nested_param_keys():
    assert m("params.optimizer.name = 'adam'")
    assert m("params.optimizer.lr = 0.001")
    assert not m("params.optimizer.missing = 1")
    assert not m("params.lr.x = 1")  # walking into a scalar


def test_flat_dotted_key_wins_over_nested_path():
    assert m("params.a.b = 1")
    assert not m("params.a.b = 2")
    assert m("params.a.b = 2", make_row(params={"a": {"b": 2}}))


def test_deeply_nested():
    row = make_row(params={"model": {"enc": {"layers": 4}}})
    assert m("params.model.enc.layers = 4", row)
    assert lookup(row, "params", "model.enc.layers") == 4


# ---------------------------------------------------------------- missing keys

@pytest.mark.parametrize("text", [
    "metrics.nope = 1", "metrics.nope != 1", "metrics.nope < 1", "metrics.nope > 1",
    "params.nope = 'x'", "params.nope != 'x'", "tags.nope LIKE '%'", "tags.nope ILIKE '%'",
    "tags.nope IN ('a')", "tags.nope NOT IN ('a')", "params.nope = true", "params.nope != false",
])
def test_missing_key_never_matches(text):
    assert not m(text)


def test_not_is_plain_negation_of_missing():
    assert m("not metrics.nope = 1")
    assert m("not metrics.nope != 1")


def test_row_without_sections():
    assert not m("metrics.acc > 0", {})
    assert not m("status = 'FINISHED'", {"attributes": None})
    assert m("not metrics.acc > 0", {})
    assert parse_filter("")({}) is True


def test_none_param_counts_as_missing():
    row = make_row(params={"x": None})
    assert not m("params.x = 'None'", row)
    assert not m("params.x != 1", row)
    assert lookup(row, "params", "x") is MISSING


# ---------------------------------------------------------------- NaN / inf

@pytest.mark.parametrize("text, expected", [
    ("metrics.nan = 1", False), ("metrics.nan < 1", False), ("metrics.nan > 1", False),
    ("metrics.nan <= 1", False), ("metrics.nan >= 1", False), ("metrics.nan != 1", True),
    ("metrics.nan = 'nan'", False), ("metrics.nan != 'nan'", True), ("metrics.nan LIKE '%'", False),
    ("metrics.nan IN (1, 2)", False), ("metrics.nan NOT IN (1, 2)", True),
    ("metrics.inf > 1e308", True), ("metrics.inf = 1", False), ("metrics.ninf < -1e308", True),
    ("metrics.inf != 1", True), ("metrics.inf = 'inf'", True),
])
def test_nan_and_inf(text, expected):
    assert m(text) is expected


def test_nan_string_param():
    row = make_row(params={"x": "nan"})
    assert not m("params.x = 1", row)
    assert m("params.x != 1", row)
    assert m("params.x = 'nan'", row)


# ---------------------------------------------------------------- LIKE / ILIKE

@pytest.mark.parametrize("pattern, value, like, ilike", [
    ("b%", "best", True, True), ("%st", "best", True, True), ("b_st", "best", True, True),
    ("b_t", "best", False, False), ("B%", "best", False, True), ("%", "", True, True),
    ("best", "best", True, True), ("bes", "best", False, False), ("%e%", "best", True, True),
    ("a.b%", "a.b%c", True, True), ("a.b%", "axbc", False, False), ("a_b%", "a.b%c", True, True),
    ("(x)*+?[y]$^", "(x)*+?[y]$^", True, True), ("(x)*", "xx", False, False),
    ("a\\\\%b", "a%b", True, True), ("a\\\\%b", "axb", False, False), ("a\\\\_b", "a_b", True, True),
    ("a\\\\_b", "axb", False, False), ("h%o w%", "Hello World", False, True), ("line%", "line1\nline2", True, True),
])
def test_like_patterns(pattern, value, like, ilike):
    row = make_row(tags={"t": value})
    assert m(f"tags.t LIKE '{pattern}'", row) is like
    assert m(f"tags.t ILIKE '{pattern}'", row) is ilike


def test_like_on_numbers_and_bools():
    assert m("params.lr LIKE '0.0%'")
    assert m("params.layers LIKE '3'")
    assert m("params.use_bn LIKE 'tr%'")
    assert not m("params.optimizer LIKE '%'")


def test_like_regex_escapes_specials():
    assert like_regex("a.b%").pattern == "a\\.b.*"
    assert like_regex("x_y", ignore_case=True).fullmatch("XzY")


# ---------------------------------------------------------------- IN / NOT IN

@pytest.mark.parametrize("text, expected", [
    ("params.lr IN (0.01, 0.1)", True), ("params.lr IN (0.1, 0.2)", False),
    ("params.lr NOT IN (0.1, 0.2)", True), ("params.lr NOT IN (0.01, 0.2)", False),
    ("params.str_lr IN (0.01)", True), ("params.layers IN (1, 2, 3)", True),
    ("params.layers IN ('3')", True), ("params.model IN ('resnet-50', \"vgg\")", True),
    ("params.model NOT IN ('a', 'b')", True), ("tags.stage IN ('best')", True),
    ("tags.stage NOT IN ('best')", False), ("status IN ('FINISHED', 'FAILED')", True),
    ("status NOT IN ('RUNNING')", True), ("params.model IN (1, 2)", False),
    ("params.model NOT IN (1, 2)", False), ("params.lr IN (0.01, 'x')", True),
    ("metrics.acc IN(0.93)", True), ("params.lr IN ( 0.01 , 0.1 , )", None),
])
def test_in_lists(text, expected):
    if expected is None:
        assert err(text).position == text.index(")")
        return
    assert m(text) is expected


# ---------------------------------------------------------------- empty filter and referenced()

@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty_filter_matches_everything(text):
    f = parse_filter(text)
    assert isinstance(f, Filter)
    assert f(ROW) is True
    assert f({}) is True
    assert f.referenced() == set()
    assert f.text == (text or "")


def test_referenced():
    f = parse_filter("metrics.acc > 0.9 and (params.optimizer.lr = 0.01 or status = 'FINISHED') "
                     "and not attr.name LIKE 'x%' and id = 'a' and metric.acc < 1 and tag.stage IN ('a')")
    assert f.referenced() == {
        ("metrics", "acc"), ("params", "optimizer.lr"), ("attributes", "status"),
        ("attributes", "run_name"), ("attributes", "run_id"), ("tags", "stage"),
    }
    f.referenced().add(("x", "y"))  # a copy, not internal state
    assert ("x", "y") not in f.referenced()


def test_filter_keeps_text_and_is_reusable():
    text = "metrics.acc > 0.9"
    f = parse_filter(text)
    assert f.text == text
    assert "metrics.acc" in repr(f)
    assert [f(ROW) for _ in range(3)] == [True, True, True]


# ---------------------------------------------------------------- errors with exact positions

@pytest.mark.parametrize("text, position, fragment", [
    ("foo.bar > 1", 0, "unknown entity 'foo'; use metrics., params., tags. or attributes."),
    ("metrics.a > 1 and foo.bar > 1", 18, "unknown entity 'foo'"),
    ("foo > 1", 0, "unknown attribute 'foo'"),
    ("attributes.bogus = 1", 11, "unknown attribute 'bogus'"),
    ("metrics.acc 0.9", 12, "expected an operator"),
    ("metrics.acc", 11, "expected an operator"),
    ("metrics.acc >", 13, "expected a value"),
    ("metrics.acc > and", 14, "expected a value"),
    ("tags.stage = best", 13, "quote strings"),
    ("tags.stage = 'best", 13, "unterminated string"),
    ('tags.stage = "best', 13, "unterminated string"),
    ("tags.stage = 'it\\'s", 13, "unterminated string"),
    ("metrics.`my metric > 1", 8, "unterminated key"),
    ("metrics.`` > 1", 8, "empty quoted key"),
    ("metrics. > 1", 8, "missing key"),
    ("(metrics.a > 1", 0, "unclosed '('"),
    ("metrics.b > 2 and ((metrics.a > 1)", 18, "unclosed '('"),
    ("metrics.a > 1)", 13, "unmatched ')'"),
    ("(metrics.a > 1 metrics.b > 1)", 15, "expected 'and', 'or' or ')'"),
    ("metrics.a > 1 extra", 14, "unexpected 'extra'"),
    ("metrics.a > 1 metrics.b > 2", 14, "expected 'and' or 'or'"),
    ("params.a IN ()", 13, "empty IN list"),
    ("params.a NOT IN ()", 17, "empty NOT IN list"),
    ("params.a IN 1", 12, "expected '('"),
    ("params.a IN (1, 2", 12, "unclosed '('"),
    ("params.a IN (1 2)", 15, "expected ',' or ')'"),
    ("params.a NOT 1", 13, "expected IN after NOT"),
    ("metrics.a LIKE 1", 15, "LIKE needs a quoted string"),
    ("metrics.a ILIKE true", 16, "ILIKE needs a quoted string"),
    ("params.a > true", 11, "true/false"),
    ("metrics.a > 1abc", 12, "invalid number '1abc'"),
    ("metrics.a > 1.2.3", 12, "invalid number"),
    ("metrics.a > 1 and", 17, "expected a condition"),
    ("and metrics.a > 1", 0, "expected a condition"),
    ("()", 1, "expected a condition"),
    ("metrics.a > 1 @ 2", 14, "unexpected character '@'"),
    ("metrics.a ! 1", 10, "unexpected character '!'"),
    ("metrics.a > 1 or not", 20, "expected a condition"),
    ("   foo > 1", 3, "unknown attribute"),
    ("metrics.a = 1 and not (", 23, "expected a condition"),
])
def test_syntax_errors_report_exact_position(text, position, fragment):
    e = err(text)
    assert e.position == position, str(e)
    assert fragment in e.message, e.message
    assert e.expression == text
    assert str(e).startswith(e.message)
    assert f"at position {position}" in e.message


def test_unknown_attribute_error_lists_attributes():
    msg = err("foo > 1").message
    for name in ("status", "run_name", "start_time", "duration", "user"):
        assert name in msg


def test_error_is_gitexp_error_with_pointer():
    e = err("metrics.acc >")
    assert e.exit_code == 2
    assert e.pointer.splitlines()[1] == " " * 13 + "^"


def test_string_literal_with_ordering_is_allowed():
    assert parse_filter("metrics.x > 'abc'")(make_row(metrics={"x": 1.0})) is False


# ---------------------------------------------------------------- lookup

def test_lookup():
    assert lookup(ROW, "metrics", "acc") == 0.93
    assert lookup(ROW, "metrics", "nope") is MISSING
    assert lookup(ROW, "params", "optimizer.name") == "adam"
    assert lookup(ROW, "params", "a.b") == 1
    assert lookup(ROW, "attributes", "name") == "brisk-otter"
    assert lookup(ROW, "attributes", "run_name") == "brisk-otter"
    assert lookup(make_row(end_time=None), "attributes", "end_time") is MISSING
    assert lookup({}, "tags", "stage") is MISSING
    with pytest.raises(ValueError):
        lookup(ROW, "bogus", "x")


# ---------------------------------------------------------------- parse_sort

@pytest.mark.parametrize("text, expected", [
    ("metrics.acc", SortKey("metrics", "acc", False)),
    ("metrics.acc:desc", SortKey("metrics", "acc", True)),
    ("metrics.acc:asc", SortKey("metrics", "acc", False)),
    ("metrics.acc DESC", SortKey("metrics", "acc", True)),
    ("metrics.acc ASC", SortKey("metrics", "acc", False)),
    ("metrics.acc : DeSc", SortKey("metrics", "acc", True)),
    ("  metrics.train/loss  ", SortKey("metrics", "train/loss", False)),
    ("start_time", SortKey("attributes", "start_time", False)),
    ("attributes.start_time desc", SortKey("attributes", "start_time", True)),
    ("name", SortKey("attributes", "run_name", False)),
    ("attr.id:desc", SortKey("attributes", "run_id", True)),
    ("params.optimizer.lr", SortKey("params", "optimizer.lr", False)),
    ("metrics.`my metric`:desc", SortKey("metrics", "my metric", True)),
    ("tag.stage", SortKey("tags", "stage", False)),
])
def test_parse_sort(text, expected):
    assert parse_sort(text) == expected


@pytest.mark.parametrize("text, position", [
    ("", 0), ("   ", 3), ("foo.acc", 0), ("bogus", 0), ("metrics.acc:", 12), ("metrics.acc:up", 12),
    ("metrics.acc sideways", 12), ("metrics.acc desc extra", 17), ("metrics.", 8), ("desc", 0),
    ("metrics.acc > 1", 12), ("attributes.nope desc", 11),
])
def test_parse_sort_errors(text, position):
    with pytest.raises(FilterSyntaxError) as info:
        parse_sort(text)
    assert info.value.position == position, str(info.value)


# ---------------------------------------------------------------- sort_rows

def _rows(values: list, kind: str = "metrics", key: str = "x") -> list[dict]:
    out = []
    for i, v in enumerate(values):
        row = make_row(run_name=f"r{i}")
        if v is not MISSING:
            row[kind][key] = v
        out.append(row)
    return out


def _names(rows: list[dict]) -> list[str]:
    return [r["attributes"]["run_name"] for r in rows]


def test_sort_ascending_and_descending_missing_last():
    rows = _rows([3.0, MISSING, 1.0, 2.0])
    assert _names(sort_rows(rows, [SortKey("metrics", "x", False)])) == ["r2", "r3", "r0", "r1"]
    assert _names(sort_rows(rows, [SortKey("metrics", "x", True)])) == ["r0", "r3", "r2", "r1"]
    assert _names(rows) == ["r0", "r1", "r2", "r3"]  # input untouched


def test_sort_nan_after_numbers_before_missing():
    rows = _rows([float("nan"), MISSING, 2.0, float("-inf"), float("inf"), 1])
    asc = _names(sort_rows(rows, [SortKey("metrics", "x", False)]))
    desc = _names(sort_rows(rows, [SortKey("metrics", "x", True)]))
    assert asc == ["r3", "r5", "r2", "r4", "r0", "r1"]
    assert desc == ["r4", "r2", "r5", "r3", "r0", "r1"]


def test_sort_numbers_before_strings_and_params_coerced():
    rows = _rows(["b", 10, "9", "a", MISSING, 2.5, True], kind="params")
    asc = _names(sort_rows(rows, [SortKey("params", "x", False)]))
    # numbers (with numeric strings) 2.5, 9, 10 ; strings a, b, true ; missing
    assert asc == ["r5", "r2", "r1", "r3", "r0", "r6", "r4"]
    desc = _names(sort_rows(rows, [SortKey("params", "x", True)]))
    assert desc == ["r1", "r2", "r5", "r6", "r0", "r3", "r4"]


def test_sort_tags_are_strings():
    rows = _rows(["10", "9", "b"], kind="tags")
    assert _names(sort_rows(rows, [SortKey("tags", "x", False)])) == ["r0", "r1", "r2"]


def test_sort_is_stable_and_multi_key():
    rows = []
    for i, (a, b) in enumerate([(1, "x"), (2, "y"), (1, "y"), (2, "x"), (1, "x"), (MISSING, "a")]):
        row = make_row(run_name=f"r{i}", tags={"b": b})
        if a is not MISSING:
            row["metrics"]["a"] = a
        rows.append(row)
    keys = [SortKey("metrics", "a", True), SortKey("tags", "b", False)]
    assert _names(sort_rows(rows, keys)) == ["r3", "r1", "r0", "r4", "r2", "r5"]
    keys = [SortKey("tags", "b", True), SortKey("metrics", "a", False)]
    assert _names(sort_rows(rows, keys)) == ["r2", "r1", "r0", "r4", "r3", "r5"]
    assert sort_rows(rows, []) == rows


def test_sort_attributes_and_nested_params():
    rows = [make_row(run_name="b", start_time=2), make_row(run_name="a", start_time=3),
            make_row(run_name="c", start_time=1)]
    assert _names(sort_rows(rows, [parse_sort("start_time desc")])) == ["a", "b", "c"]
    assert _names(sort_rows(rows, [parse_sort("name")])) == ["a", "b", "c"]
    assert _names(sort_rows(rows, [SortKey("attributes", "name", True)])) == ["c", "b", "a"]
    nested = [make_row(run_name=n, params={"opt": {"lr": lr}}) for n, lr in (("x", 0.1), ("y", 0.01))]
    assert _names(sort_rows(nested, [parse_sort("params.opt.lr")])) == ["y", "x"]


def test_sort_other_values_before_missing():
    rows = _rows([{"k": 1}, MISSING, "s", 1], kind="params")
    assert _names(sort_rows(rows, [SortKey("params", "x", True)])) == ["r3", "r2", "r0", "r1"]


# ---------------------------------------------------------------- performance sanity

def test_performance_10k_rows():
    rows = [make_row(params={"lr": 0.01 * (i % 10), "optimizer": {"name": "adam" if i % 2 else "sgd"}},
                     metrics={"acc": i / 10000}, tags={"stage": "best" if i % 3 else "x"})
            for i in range(10000)]
    f = parse_filter("metrics.acc > 0.1 and params.optimizer.name = 'adam' and tags.stage != 'x'")
    start = time.perf_counter()
    hits = sum(1 for row in rows if f(row))
    elapsed = time.perf_counter() - start
    print(f"\nfilter over 10,000 rows: {elapsed * 1000:.1f} ms ({hits} hits)")
    expected = sum(1 for i in range(10000) if i / 10000 > 0.1 and i % 2 and i % 3)
    assert hits == expected
    assert elapsed < 1.0
