"""Figures for the web UI (issue 16) over a repository made by gen_runs.py.

Usage: python benchmarks/bench_ui.py REPO [--browser]

Adds an experiment `long` of 10 runs x 10,000 steps (once), starts `gitexp ui`
on a free port and prints: time until it serves, the runs JSON endpoint (warm),
a filter round trip, and with --browser (Debian's chromium + chromium-driver,
Selenium) the runs table's first page and a 10-run compare drawn in the browser.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from gitexp.names import new_run_id, new_run_name
from gitexp.store.record import RunInfo, encode_record, iso_from_ms
from gitexp.store.repo import RUNS_PREFIX, open_repo
from gitexp.store.runcommit import write_run_commit

FILTER = "metrics.acc > 0.5 and params.lr = 0.01"


def add_long_runs(repo: Path, runs: int = 10, steps: int = 10_000) -> list[str]:
    """10 runs with 10,000 steps each in experiment `long` (made once)."""
    with open_repo(repo) as db:
        existing = sorted(db.refs_under(f"{RUNS_PREFIX}long/"))
        if len(existing) >= runs:
            return [r.rsplit("/", 1)[1] for r in existing[:runs]]
        rng = random.Random(1)
        head = db.head()
        tree, _ = db.commit_info(head)
        ids = []
        for n in range(runs):
            start = int(time.time() * 1000) + n
            run_id = new_run_id(start)
            info = RunInfo(id=run_id, name=new_run_name(set()) + f"-long{n}", experiment="long", status="FINISHED",
                           start_time=iso_from_ms(start) or "", end_time=iso_from_ms(start + steps),
                           user="bench", host="bench", command=["python", "train.py"], exit_code=0, baseline=head)
            hist = {k: [(s, rng.random() / (1 + s / 1000), start + s) for s in range(steps)] for k in ("loss", "acc")}
            record = encode_record(info, {"lr": rng.choice([0.1, 0.01])}, {}, hist, [])
            commit = write_run_commit(db, tree, None, dict(record), [head], "bench long run")
            db.set_ref(f"{RUNS_PREFIX}long/{run_id}", None, commit, "bench")
            ids.append(run_id)
        return ids


def get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        response.read()
    return time.perf_counter() - start


def median(fn, n: int = 5) -> float:
    return statistics.median(fn() for _ in range(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo")
    parser.add_argument("--browser", action="store_true", help="also time pages drawn in headless Chromium")
    args = parser.parse_args()
    repo = Path(args.repo).resolve()
    long_ids = add_long_runs(repo)
    subprocess.run([sys.executable, "-m", "gitexp", "ls", "--all", "--limit", "1"], cwd=repo, capture_output=True)

    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gitexp", "ui", "--port", "0"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip().rstrip("/")  # type: ignore[union-attr]
        while True:
            try:
                get(url + "/static/app.css")
                break
            except OSError:
                time.sleep(0.01)
        ready = time.perf_counter() - start
        time.sleep(3)  # let the warm-up fill the default view
        first = get(url + "/api/runs")
        warm = median(lambda: get(url + "/api/runs?offset=50"))
        q = urllib.parse.urlencode({"filter": FILTER})
        cold_filter = get(f"{url}/api/runs?{q}")
        total = json.loads(urllib.request.urlopen(url + "/api/runs?limit=1").read())["total"]
        print(f"runs: {total}")
        print(f"gitexp ui ready to serve:            {ready:.2f} s   (target <= 1 s)")
        print(f"runs JSON, first request:            {first:.3f} s")
        print(f"runs JSON, warm (next page):          {warm:.3f} s   (target <= 0.3 s)")
        print(f"filter round trip (new filter):       {cold_filter:.3f} s   (target <= 0.5 s)")
        if args.browser:
            browser_figures(url, long_ids)
    finally:
        proc.terminate()
        proc.wait(10)


def browser_figures(url: str, long_ids: list[str]) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
                 "--disable-component-update --disable-sync --window-size=1400,1000").split():
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp()}")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        def table() -> float:
            start = time.perf_counter()
            driver.get(url + "/")
            until(driver, "document.querySelectorAll('#runs-body tr').length === 50")
            return time.perf_counter() - start

        table()  # the browser's own first start
        print(f"runs table first page in browser:     {median(table, 3):.2f} s   (target <= 1 s)")

        def compare() -> float:
            start = time.perf_counter()
            driver.get(url + "/compare?runs=" + ",".join(long_ids))
            until(driver, "document.querySelectorAll('#charts canvas').length >= 2 && "
                          "echarts.getInstanceByDom(document.querySelector('[data-metric=loss]')).getOption().series.length === 10")
            driver.execute_script("return new Promise(r => requestAnimationFrame(() => r()))")
            return time.perf_counter() - start

        print(f"compare 10 runs x 10,000 steps drawn: {median(compare, 3):.2f} s   (target <= 1 s)")
    finally:
        driver.quit()


def until(driver, condition: str, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            if driver.execute_script(f"return !!({condition})"):
                return
        except Exception:  # noqa: BLE001 - page still loading
            pass
        time.sleep(0.01)
    raise TimeoutError(condition)


if __name__ == "__main__":
    os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
    main()
