"""The web UI in a real headless Chromium (Debian's chromium + chromium-driver), through Selenium.

Run with `python -m pytest -q -m browser`. Screenshots of each page are saved to
$GITEXP_UI_SCREENSHOTS (default: tests/screenshots/, not tracked).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.uihelpers import build_in_subprocess_env, isolated_env

pytestmark = pytest.mark.browser
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
         "--disable-component-update --disable-sync --window-size=1400,1000").split()
SHOTS = Path(os.environ.get("GITEXP_UI_SCREENSHOTS", Path(__file__).parent / "screenshots"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """`gitexp ui --allow-writes` on a free port over a repository with three runs (one hostile)."""
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, **isolated_env(home)}
    repo = tmp_path_factory.mktemp("uirepo") / "repo"
    ids = build_in_subprocess_env(repo, isolated_env(home))
    proc = subprocess.Popen([sys.executable, "-m", "gitexp", "ui", "--port", "0", "--allow-writes"], cwd=repo,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read()  # type: ignore[union-attr]
        yield url.rstrip("/"), ids
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="gitexp-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait(driver: object, condition: str, timeout: float = 10) -> object:
    """Poll a JavaScript expression until it is truthy; return its value."""
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(f"return ({condition});")  # type: ignore[attr-defined]
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {condition}")


def shot(driver: object, name: str, height: int | None = None) -> None:
    if height:
        driver.set_window_size(1400, height)  # type: ignore[attr-defined]
    driver.save_screenshot(str(SHOTS / f"{name}.png"))  # type: ignore[attr-defined]
    driver.set_window_size(1400, 1000)  # type: ignore[attr-defined]


def no_xss(driver: object) -> None:
    assert driver.execute_script("return window.__xss === undefined")  # type: ignore[attr-defined]
    assert not driver.execute_script("return document.querySelectorAll('img[src=x], main script').length")  # type: ignore[attr-defined]
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"  # type: ignore[attr-defined]
              and "status of 400" not in e["message"]]  # a filter error is a 400 answer, shown on the page
    assert not errors, errors


def rows(driver: object) -> list[str]:
    return driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('#runs-body tr a.run-link')].map(a => a.textContent)")


def test_table_filter_sort_select_compare(browser, server) -> None:
    url, ids = server
    browser.get(url + "/")
    wait(browser, "document.querySelectorAll('#runs-body tr').length === 3")
    assert "1–3 of 3 runs" in browser.find_element("id", "range").text
    shot(browser, "01-runs-table")
    no_xss(browser)

    box = browser.find_element("id", "filter")
    box.send_keys("metrics.acc >")
    browser.find_element("css selector", "#filter-form button[type=submit]").click()
    error = wait(browser, "!document.getElementById('filter-error').hidden && document.getElementById('filter-error').textContent")
    assert "position 13" in error and "^" in error
    shot(browser, "02-filter-error")
    box.clear()
    box.send_keys("params.lr < 0.2")
    browser.find_element("css selector", "#filter-form button[type=submit]").click()
    wait(browser, "document.querySelectorAll('#runs-body tr').length === 2")
    assert sorted(rows(browser)) == ["alpha", "beta"]
    assert "filter=params.lr" in browser.current_url

    browser.find_element("css selector", "th[data-key='metrics.acc']").click()  # ascending
    wait(browser, "document.querySelector('th[data-key=\"metrics.acc\"]').textContent.includes('▲')")
    wait(browser, "document.querySelector('#runs-body a.run-link').textContent === 'beta'")
    browser.find_element("css selector", "th[data-key='metrics.acc']").click()  # descending
    wait(browser, "document.querySelector('#runs-body a.run-link').textContent === 'alpha'")
    assert rows(browser) == ["alpha", "beta"]

    for box in browser.find_elements("css selector", "input.select"):
        box.click()
    button = browser.find_element("id", "compare")
    assert button.is_enabled() and "(2)" in button.text
    shot(browser, "03-runs-selected")
    button.click()
    wait(browser, "location.pathname === '/compare'")
    assert ids["alpha"] in browser.current_url and ids["beta"] in browser.current_url
    # both curves: two series in the loss chart, and the lr row marked as differing
    wait(browser, "!!(document.querySelector('[data-metric=loss]') && echarts.getInstanceByDom(document.querySelector('[data-metric=loss]')))")
    names = browser.execute_script(
        "return echarts.getInstanceByDom(document.querySelector('[data-metric=loss]')).getOption().series.map(s => s.name)")
    assert sorted(names) == ["alpha", "beta"]
    differs = browser.execute_script(
        "return [...document.querySelectorAll('#compare-table tr.differs th')].map(t => t.textContent)")
    assert "params.lr" in differs and "params.layers" not in differs
    wait(browser, "!!document.querySelector('#codediff pre.diff')")
    assert "lr = 0.01" in browser.find_element("id", "codediff").text
    time.sleep(0.3)
    shot(browser, "04-compare", 2400)
    no_xss(browser)


def test_run_page_charts_and_artifact_download(browser, server, tmp_path: Path) -> None:
    url, ids = server
    browser.get(f"{url}/run/{ids['beta']}")
    wait(browser, "document.querySelectorAll('#charts .chart canvas').length === 2")
    browser.find_element("css selector", "button.preview[data-path='cfg.json']").click()
    wait(browser, "document.querySelector('#preview pre') && document.querySelector('#preview pre').textContent.includes('sgd')")
    browser.find_element("css selector", "#logy").click()
    shot(browser, "05-run-page", 2600)
    no_xss(browser)
    href = browser.find_element("css selector", "a.download").get_attribute("href")
    assert "/artifact/" in href
    # download it the way the browser would (same origin, its cookies: none needed)
    with urllib.request.urlopen(href) as response:
        assert response.headers["content-disposition"].startswith("attachment")
        assert response.read()
    browser.find_element("css selector", "button.preview[data-path='img/red.png']").click()
    wait(browser, "document.querySelector('#preview img') && document.querySelector('#preview img').naturalWidth === 2")


def test_xss_payloads_do_nothing(browser, server) -> None:
    url, ids = server
    for path in ("/", f"/run/{ids['evil']}", f"/compare?runs={ids['evil']},{ids['alpha']}"):
        browser.get(url + path)
        time.sleep(0.8)  # let the page's scripts and charts run
        if "compare" in path:  # hover the evil run's point to show its tooltip
            browser.execute_script("""
              const c = echarts.getInstanceByDom(document.querySelector('[data-metric=loss]'));
              c.dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0});""")
            time.sleep(0.3)
            tip = browser.execute_script("return [...document.querySelectorAll('#charts div')].map(d => d.innerHTML)"
                                         ".filter(h => h.includes('xss')).join('')")
            assert "<script>" not in tip and "<img" not in tip
        no_xss(browser)
        assert browser.execute_script("return document.querySelectorAll('a[href^=javascript]').length") == 0
    browser.get(f"{url}/run/{ids['evil']}")
    assert "<script>window.__xss=2</script>" in browser.find_element("id", "run-name").text
    shot(browser, "06-hostile-run", 2200)


def test_writes_from_the_run_page(browser, server) -> None:
    url, ids = server
    browser.get(f"{url}/run/{ids['alpha']}")
    form = browser.find_element("id", "tag-form")
    form.find_element("name", "key").send_keys("stage")
    form.find_element("name", "value").send_keys("best")
    form.find_element("css selector", "button").click()
    wait(browser, "document.querySelector('#tags') && document.querySelector('#tags').textContent.includes('best')")
    shot(browser, "07-after-tag")


def test_foreign_host_is_refused(server) -> None:
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /api/runs HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert re.match(rb"HTTP/1.1 421", reply), reply[:200]
