"""The segment report in a real browser: headless Chromium draws every chart.

test_report.py checks the HTML; this checks what Chromium makes of it: each
chart's SVG has a non-zero size, the expected number of marks, marks with real
geometry, readable text, and the page requests nothing from the network. A
full-page screenshot goes to the test's temp directory (printed; not kept).

Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`):
when they are not on PATH, scripts/install_chromium.sh installs them (apt-get,
as root or with sudo). If that is impossible the test FAILS, saying so; on a
machine without apt set REPORT_BROWSER_TEST=skip to skip it instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from activation.report import build_report
from report_warehouse import RUNS, make_report_warehouse

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install_chromium.sh"
SKIP_ENV = "REPORT_BROWSER_TEST"


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """(chromium, chromedriver) paths, installing them first when missing."""
    if os.environ.get(SKIP_ENV, "").strip().lower() == "skip":
        pytest.skip(f"{SKIP_ENV}=skip: the browser test is switched off on this machine")
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        started = time.monotonic()
        try:
            result = subprocess.run(
                ["bash", str(INSTALL)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900
            )
            code, output = result.returncode, (result.stdout + result.stderr).strip()
        except (OSError, subprocess.TimeoutExpired) as error:
            code, output = -1, str(error)
        took = time.monotonic() - started
        if code != 0 or not (shutil.which("chromium") and shutil.which("chromedriver")):
            tail = "\n".join(output.splitlines()[-15:])
            pytest.fail(
                f"the report's browser test needs headless Chromium and chromedriver, and {INSTALL.name} could "
                f"not install them (exit {code}, {took:.0f} s):\n{tail}\n"
                "Install the Debian packages `chromium` and `chromium-driver` (as root: scripts/install_chromium.sh), "
                f"or, on a machine without apt, set {SKIP_ENV}=skip to skip this test.",
                pytrace=False,
            )
        print(f"\ninstalled chromium and chromedriver in {took:.1f} s", file=sys.stderr)
    return shutil.which("chromium") or "", shutil.which("chromedriver") or ""


@pytest.fixture(scope="module")
def browser(chromium: tuple[str, str]):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-extensions", "--no-first-run", "--window-size=1200,900", "--lang=en-US"):
        options.add_argument(argument)
    # a driver path given: Selenium Manager (which would download drivers) is never run
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser, tmp_path: Path, **warehouse_options) -> Path:
    db = make_report_warehouse(tmp_path / "w.duckdb", **warehouse_options)
    _, html_text = build_report(db)
    page = tmp_path / "report.html"
    page.write_text(html_text, encoding="utf-8")
    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    return page


CHARTS_JS = """
const out = {};
for (const section of document.querySelectorAll('[data-chart]')) {
  const svg = section.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : null;
  out[section.dataset.chart] = {
    state: section.dataset.state,
    width: box ? box.width : 0,
    height: box ? box.height : 0,
    title: svg ? svg.querySelector(':scope > title').textContent : '',
    desc: svg ? svg.querySelector(':scope > desc').textContent : '',
    labelled: svg ? svg.getAttribute('aria-labelledby').split(' ').every(id => document.getElementById(id)) : false,
  };
}
return out;
"""

MARKS = {
    "[data-chart=segment-sizes] path.series": 8,
    "[data-chart=segment-sizes] circle.point": 8 * 5,
    "[data-chart=segment-flows] rect.bar.entered": 5,
    "[data-chart=segment-flows] rect.bar.exited": 5,
    "[data-chart=rfm] rect.cell": 25,
    "[data-chart=funnel] rect.bar": 4,
    "[data-chart=sync-history] g.run": len(RUNS),
    "[data-chart=sync-history] rect.bar": 3 * len(RUNS),
}


def test_every_chart_is_drawn(browser, tmp_path: Path) -> None:
    page = _open(browser, tmp_path)
    charts = browser.execute_script(CHARTS_JS)
    assert sorted(charts) == sorted(["segment-sizes", "segment-flows", "rfm", "funnel", "sync-history"])
    for key, found in charts.items():
        assert found["state"] == "drawn", key
        assert found["width"] > 300 and found["height"] > 150, f"{key}: SVG box {found['width']}x{found['height']}"
        assert found["title"] and len(found["desc"]) > 40 and found["labelled"], key

    counts = browser.execute_script(
        "return Object.fromEntries(arguments[0].map(s => [s, document.querySelectorAll(s).length]))", list(MARKS)
    )
    assert counts == MARKS

    # marks with geometry: lines have length, cells and non-zero bars an area on screen
    geometry = browser.execute_script("""
        const area = el => { const r = el.getBoundingClientRect(); return r.width * r.height; };
        const q = s => [...document.querySelectorAll(s)];
        return {
          lines: q('[data-chart=segment-sizes] path.series').map(p => p.getTotalLength()),
          cells: q('[data-chart=rfm] rect.cell').map(area),
          funnel: q('[data-chart=funnel] rect.bar').map(area),
          runs: q('[data-chart=sync-history] g.run').map(g => g.getBBox().height),
          flows: q('[data-chart=segment-flows] rect.bar').filter(r => +r.dataset.value > 0).map(area),
        };
    """)
    assert all(length > 100 for length in geometry["lines"]), geometry["lines"]
    assert all(a > 1000 for a in geometry["cells"]), "every RFM cell is a visible box"
    assert all(a > 0 for a in geometry["funnel"])
    assert sum(1 for height in geometry["runs"] if height > 20) >= 2, "the runs that sent something have bars"
    assert len(geometry["flows"]) == 9 and all(a > 0 for a in geometry["flows"])

    # text is readable: names render as text (not markup), dark cells get light ink
    text = browser.execute_script("""
        const cell = document.querySelector('[data-chart=rfm] g.rfm-cell[data-r="1"][data-f="1"] text');
        return {
          ink: getComputedStyle(cell).fill,
          legend: document.querySelector('[data-chart=segment-sizes] .legend-item text').textContent,
          injected: document.querySelectorAll('main script, main img, main b').length,
          resources: performance.getEntriesByType('resource').map(e => e.name),
        };
    """)
    assert text["ink"] == "rgb(255, 255, 255)", "the fullest RFM cell is dark: its text must be white"
    assert text["legend"].startswith("<script>"), "a name with markup is shown as text"
    assert text["injected"] == 0
    assert text["resources"] == [], "the page loaded nothing (self-contained)"

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1200, height + 40)
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    print(f"\nreport {page}\nscreenshot {shot}", file=sys.stderr)


def test_empty_states_are_visible(browser, tmp_path: Path) -> None:
    _open(browser, tmp_path, activation=False)
    found = browser.execute_script("""
        const section = document.querySelector('[data-chart=sync-history]');
        const note = section.querySelector('.empty');
        const box = note.getBoundingClientRect();
        return {state: section.dataset.state, svgs: section.querySelectorAll('svg').length,
                text: note.textContent, width: box.width, height: box.height};
    """)
    assert found["state"] == "empty" and found["svgs"] == 0
    assert "activation.runs" in found["text"]
    assert found["width"] > 300 and found["height"] > 20
