"""The newcomer's tour, driven in a real browser, saving the README's screenshots.

Starts `python -m mltrack` on a fresh data dir, queues a sweep of 4 MLP jobs
from the form, watches them run and finish, sorts the table by test accuracy
and by run time, and overlays two runs' curves. Needs chromium and
chromedriver (the test command installs them).

    python docs/tour.py [--mnist DIR]   # DIR: an existing MNIST root to reuse
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

DOCS = Path(__file__).parent


def wait_for(predicate, timeout=300.0, step=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def start(data_dir: Path, *args: str, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`python -m mltrack` on `data_dir` (and `args`); returns it and its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "mltrack", *args, "--port", "0",
                             "--data-dir", str(data_dir)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        print("  mltrack:", line.rstrip())
        found = re.search(r"dashboard at (http://\S+)", line)
        if found:
            return proc, found.group(1)
    raise SystemExit("mltrack did not start")


def browser() -> webdriver.Chrome:
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1280,800",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    # the page itself 1280x800, whatever the window around it
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1,
                            "mobile": False})
    return driver


def rows(driver) -> list[dict[str, str]]:
    return driver.execute_script("""
        const rows = [...document.querySelectorAll('#jobs-grid .ag-center-cols-container .ag-row')];
        rows.sort((a, b) => +a.getAttribute('row-index') - +b.getAttribute('row-index'));
        return rows.filter(r => r.getAttribute('row-id')).map(r => {
            const out = {'row-id': r.getAttribute('row-id')};
            r.querySelectorAll('.ag-cell').forEach(c => out[c.getAttribute('col-id')] = c.innerText);
            return out;
        });""")


def widget(field: str, kind: str = "text", task: str = "mnist") -> str:
    """A CSS selector of the form's widget for a task's hyperparameter (Dash
    writes pattern-matching ids as sorted compact JSON)."""
    cid = {"type": "param", "task": task, "field": field, "kind": kind}
    return f"[id='{json.dumps(cid, sort_keys=True, separators=(',', ':'))}']"


def choose(driver, selector: str, wanted: set[str]) -> None:
    """Make a multi-select dropdown hold exactly `wanted`."""
    box = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, selector), timeout=30)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    time.sleep(0.3)
    # additions first: the dropdown keeps at least one value
    for adding in (True, False):
        # the open menu's options (Dash's checklists are options too)
        for option in driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"):
            name = option.text.strip()
            selected = option.get_attribute("aria-selected") == "true"
            if (name in wanted) != selected and (name in wanted) == adding:
                option.click()
                time.sleep(0.2)
    driver.find_element(By.CSS_SELECTOR, ".brand").click()


def show_runs(driver) -> None:
    """The run view, as a user reaches it: its tab (a scroll on a page without tabs)."""
    tabs = driver.find_elements(By.ID, "tab-runs")
    if tabs:
        tabs[0].click()
    else:
        driver.execute_script("window.scrollTo(0, document.querySelector('.runs-card')"
                              ".getBoundingClientRect().top + window.scrollY - 60)")
    time.sleep(1)


def type_into(driver, selector: str, text: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, selector)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, help="an MNIST root to reuse (no download)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        if args.mnist:
            (data_dir / "mnist").symlink_to(args.mnist.resolve())
        proc, url = start(data_dir)
        driver = browser()
        try:
            driver.set_window_size(1280, 960)
            driver.get(url)
            wait_for(lambda: driver.find_element(By.ID, "jobs-grid"))
            print("1. a sweep of 4 MLP jobs from the form")
            choose(driver, widget("model", "choice"), {"mlp"})
            choose(driver, widget("optimizer", "choice"), {"adam", "sgd"})
            type_into(driver, widget("learning_rate", "log-slider"), "0.01, 0.001")
            type_into(driver, widget("num_epochs"), "3")
            preview = wait_for(lambda: "4 jobs" in driver.find_element(
                By.ID, "sweep-preview").text and driver.find_element(By.ID, "sweep-preview").text)
            print("   ", preview)
            driver.save_screenshot(str(DOCS / "form.png"))
            driver.find_element(By.ID, "submit").click()
            wait_for(lambda: driver.find_element(By.ID, "submit-result").text == "Queued 4 mnist jobs.")
            print("2. watch them run")
            wait_for(lambda: any(r.get("status", "").lower() == "running" and "left" in
                                 r.get("progress", "") for r in rows(driver)))
            driver.save_screenshot(str(DOCS / "running.png"))
            wait_for(lambda: [r["status"].lower() for r in rows(driver)] == ["done"] * 4,
                     timeout=900)
            print("3. sort by test accuracy, then by run time")
            header = "#jobs-grid .ag-header-cell[col-id='{}'] .ag-header-cell-label"
            driver.find_element(By.CSS_SELECTOR, header.format("test_accuracy")).click()  # best first
            time.sleep(1.5)
            acc = [float(r["test_accuracy"]) for r in rows(driver)]
            assert acc == sorted(acc, reverse=True), acc
            print("    test accuracy, best first:", acc)
            # run time may sit past the right edge (or be hidden by the column chooser)
            if driver.execute_script(
                    "const api = dash_ag_grid.getApi('jobs-grid'), c = api.getColumn('runtime');"
                    "if (!c || !c.isVisible()) { return false; }"
                    "api.ensureColumnVisible('runtime'); return true;"):
                time.sleep(0.5)
                driver.find_element(By.CSS_SELECTOR, header.format("runtime")).click()
                time.sleep(1.5)
                print("    run time, shortest first:", [r.get("runtime") for r in rows(driver)])
            print("4. overlay the two best runs")
            driver.execute_script("dash_ag_grid.getApi('jobs-grid').ensureColumnVisible("
                                  "'test_accuracy')")
            for _ in range(3):  # best first again (a click cycles the column's sort orders)
                driver.find_element(By.CSS_SELECTOR, header.format("test_accuracy")).click()
                time.sleep(1.5)
                acc = [float(r["test_accuracy"]) for r in rows(driver)]
                if acc == sorted(acc, reverse=True):
                    break
            driver.execute_script("document.querySelector('.form-card').scrollTop = 0")
            for row in rows(driver)[:2]:
                driver.find_element(By.CSS_SELECTOR, f"#jobs-grid .ag-row[row-id='{row['row-id']}'] "
                                                     ".ag-selection-checkbox input").click()
            wait_for(lambda: driver.execute_script(
                "const g = [...document.querySelectorAll('#run-graphs .js-plotly-plot')];"
                "return g.length == 2 && g.every(p => p.data && p.data.filter(t => "
                "t.showlegend !== false && t.legendgroup !== 'line-style').length == 2)"))
            time.sleep(1)
            driver.save_screenshot(str(DOCS / "dashboard.png"))
            show_runs(driver)
            driver.save_screenshot(str(DOCS / "runs.png"))
            print("screenshots in", DOCS)
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
