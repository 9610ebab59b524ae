"""Figures for the web UI (issue 16) over a repository made by gen_runs.py.

Usage: python benchmarks/bench_ui.py REPO [--browser]

Adds an experiment `long` of 10 runs x 10,000 steps (once), starts `gitexp ui`
on a free port and prints: time until it serves (and until it has answered a first
runs JSON, the warm-up not done yet: no figure of the issue), the runs JSON endpoint (warm),
a filter round trip (a new filter each time), the compare and histories JSON,
and with --browser (Debian's chromium + chromium-driver, Selenium) the runs
table's first page and a 10-run compare drawn in the browser. Each figure is
the best (and median) of several repeats, with the server's CPU time (user +
sys from /proc, all its threads) for that repeat and the load average: the
machine may be shared.
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
from collections.abc import Callable
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


class Server:
    """`gitexp ui` on a free port; its CPU time (user + sys, all threads) read from /proc."""

    def __init__(self, repo: Path) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "gitexp", "ui", "--port", "0"], cwd=repo,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = self.proc.stdout.readline().strip().rstrip("/")  # type: ignore[union-attr]

    def cpu(self) -> float:
        return cpu_of(self.proc.pid)

    def ready(self) -> tuple[float, float]:
        """(wall, CPU) seconds from start until a page is served."""
        while True:
            try:
                fetch(self.url + "/static/app.css")
                return time.perf_counter() - self.started, self.cpu()
            except OSError:
                time.sleep(0.01)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url) as response:
        return response.read()


class Browser:
    """CPU time (user + sys) of chromedriver's process tree: the browser's own work."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu(self) -> float:
        total, todo = 0.0, [self.pid]
        while todo:
            pid = todo.pop()
            try:
                total += cpu_of(pid)
                children = [c for f in Path(f"/proc/{pid}/task").glob("*/children") for c in f.read_text().split()]
            except OSError:
                continue
            todo.extend(int(c) for c in children)
        return total


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Figures = tuple[float, float, float, float | None]


def timed(server: Server, fn: Callable[[int], object], repeats: int = 5, browser: Browser | None = None) -> Figures:
    """(best wall, median wall, server CPU, browser CPU) of the best of `repeats` calls of fn(n)."""
    runs = []
    for n in range(repeats):
        cpu, start = server.cpu(), time.perf_counter()
        other = browser.cpu() if browser else 0.0
        fn(n)
        runs.append((time.perf_counter() - start, server.cpu() - cpu, browser.cpu() - other if browser else None))
    best = min(runs, key=lambda r: r[0])
    return best[0], statistics.median(r[0] for r in runs), best[1], best[2]


def report(label: str, figures: Figures, target: float) -> None:
    best, med, cpu, browser = figures
    mark = "ok" if best <= target else "OVER"
    extra = f"  browser CPU {browser:5.2f} s" if browser is not None else ""
    print(f"{label:<40} best {best:6.3f} s  median {med:6.3f} s  server CPU {cpu:5.2f} s{extra}  "
          f"(target <= {target} s: {mark})")


def show_start(label: str, starts: list[tuple[float, float]], target: float | None) -> None:
    wall, cpu = min(starts)
    bar = f"target <= {target} s: {'ok' if wall <= target else 'OVER'}" if target else "no target"
    print(f"{label:<40} best {wall:6.3f} s  median {statistics.median(w for w, _ in starts):6.3f} s  "
          f"server CPU {cpu:5.2f} s  ({bar})")


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo")
    parser.add_argument("--browser", action="store_true", help="also time pages drawn in headless Chromium")
    parser.add_argument("--starts", type=int, default=3, help="server starts timed (best is reported)")
    args = parser.parse_args()
    repo = Path(args.repo).resolve()
    long_ids = add_long_runs(repo)
    subprocess.run([sys.executable, "-m", "gitexp", "ls", "--all", "--limit", "1"], cwd=repo, capture_output=True)
    print(load())
    starts = []
    for _ in range(args.starts):
        server = Server(repo)
        starts.append(server.ready())
        server.stop()
    show_start("gitexp ui ready to serve", starts, 1)
    firsts = []
    for _ in range(args.starts):
        server = Server(repo)
        server.ready()
        fetch(server.url + "/api/runs")
        firsts.append((time.perf_counter() - server.started, server.cpu()))
        server.stop()
    show_start("start, then the first runs JSON", firsts, None)
    server = Server(repo)
    try:
        server.ready()
        time.sleep(5)  # the warm-up: the cache index and the runs of the default view
        total = json.loads(fetch(server.url + "/api/runs?limit=1"))["total"]
        print(f"runs: {total}")
        report("runs JSON, first page (warm)", timed(server, lambda n: fetch(server.url + "/api/runs")), 0.3)
        report("runs JSON, another page", timed(server, lambda n: fetch(f"{server.url}/api/runs?offset={50 * (n + 1)}")),
               0.3)
        report("filter round trip (a new filter each)",
               timed(server, lambda n: fetch(f"{server.url}/api/runs?" + urllib.parse.urlencode(
                   {"filter": FILTER.replace("0.5", str(0.5 + n / 100))}))), 0.5)
        runs = ",".join(long_ids)
        report("compare rows, 10 runs (JSON)", timed(server, lambda n: fetch(f"{server.url}/api/compare?runs={runs}")),
               1)
        report("histories 10 runs x 10,000 steps (JSON)",
               timed(server, lambda n: fetch(f"{server.url}/api/histories?runs={runs}&metrics=loss,acc")), 1)
        if args.browser:
            browser_figures(server, long_ids)
        print(load())
    finally:
        server.stop()


def browser_figures(server: Server, long_ids: list[str]) -> None:
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
    browser = Browser(driver.service.process.pid)
    try:
        def table(n: int) -> None:
            driver.get(server.url + "/")
            until(driver, "document.querySelectorAll('#runs-body tr').length === 50")

        table(0)  # the browser's own first start
        report("runs table first page in browser", timed(server, table, 3, browser), 1)

        def compare(n: int) -> None:
            driver.get(server.url + "/compare?runs=" + ",".join(long_ids))
            until(driver, "document.querySelectorAll('#charts canvas').length >= 2 && "
                          "echarts.getInstanceByDom(document.querySelector('[data-metric=loss]')).getOption()"
                          ".series.length === 10")

        report("compare 10 runs x 10,000 steps drawn", timed(server, compare, 3, browser), 1)

        def whole_page(n: int) -> None:
            compare(n)
            until(driver, "echarts.getInstanceByDom(document.getElementById('scatter')) && "
                          "echarts.getInstanceByDom(document.getElementById('parallel')) && "
                          "document.getElementById('codediff').textContent.includes('unchanged')")

        report("compare page, every chart and the diff", timed(server, whole_page, 3, browser), 2)
    finally:
        driver.quit()


WAIT = """const done = arguments[arguments.length - 1];
const check = () => { let ok = false; try { ok = !!(%s); } catch (e) { /* not drawn yet */ }
                      if (ok) requestAnimationFrame(() => done(true)); else setTimeout(check, 5); };
check();"""


def until(driver, condition: str, timeout: float = 30) -> None:
    """Wait until `condition` holds in the page, then one more frame. The polling runs in the
    page (a timer every 5 ms), not through chromedriver, so it costs the browser next to nothing."""
    driver.set_script_timeout(timeout)
    driver.execute_async_script(WAIT % condition)


if __name__ == "__main__":
    os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
    main()
