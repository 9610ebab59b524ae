"""The built-in "simple" table writer gives exactly tabulate's output, and spares its import."""

from __future__ import annotations

import random
import subprocess
import sys

from tabulate import tabulate

from gitexp.render.tables import simple_table

PIECES = ["a", "b", "Z", "1", ".", " ", "-", "\n", "\x1b[1m", "\x1b[0m", "\x1b[31m", "", "  x ", "\\033", "|"]


def test_same_output_as_tabulate_on_random_tables() -> None:
    rng = random.Random(7)

    def cell() -> str:
        return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))

    compared = 0
    for _ in range(1500):
        cols = rng.randint(1, 5)
        headers = [cell().replace("\n", "") for _ in range(cols)]
        rows = [[cell() for _ in range(cols)] for _ in range(rng.randint(0, 4))]
        fast = simple_table(headers, rows)
        if fast is not None:
            compared += 1
            assert fast == tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True), (headers, rows)
    assert compared > 750  # most random tables are ones simple_table writes itself


def test_what_it_does_not_write_goes_to_tabulate() -> None:
    assert simple_table(["name"], [["日本"]]) is None  # wide characters: tabulate measures them
    assert simple_table(["a", "b"], [["1"]]) is None  # a short row
    assert simple_table(["a\nb"], [["1"]]) is None  # a multi-line header
    assert simple_table(["a"], [["x\ty"]]) is None  # a tab


def test_a_plain_table_is_printed_without_importing_tabulate() -> None:
    code = ("import sys\nfrom gitexp.render.tables import Table, render_text\n"
            "print(render_text([Table('', ['model', 'latest'], [['churn', 'v1.0.0']])]))\n"
            "assert 'tabulate' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["model    latest", "-------  --------", "churn    v1.0.0"]
