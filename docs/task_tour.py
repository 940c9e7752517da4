"""A user's own task, tried as a newcomer would, in a real browser; saves the
screenshots of docs/ (1280x800): task-form.png, task-table.png, task-runs.png.

Writes the issue's task file (`mytask.py`, gradient descent on x²) to a fresh
directory, starts `python -m mltrack --task mytask:task` there, picks the task
in the form, queues a sweep of 5 learning rates from the browser, waits for
the worker to run them, shows only that task in the table sorted by its
primary metric (loss, lowest first), and overlays two runs. Needs chromium and
chromedriver.

    python docs/task_tour.py
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

DOCS = Path(__file__).parent
REPO = DOCS.parent
TASK_FILE = textwrap.dedent('''\
    import mltrack

    def train(params, run):
        x, start = params["x0"], 1
        if run.checkpoint is not None:             # bytes saved with the last recorded epoch
            x, start = float(run.checkpoint.decode()), run.epochs_done + 1
        for epoch in range(start, params["steps"] + 1):
            if run.should_stop():                  # cancel, shutdown, lost lease
                return
            x -= params["lr"] * 2 * x
            run.log(epoch, {"loss": x * x, "x": x}, checkpoint=str(x).encode())

    task = mltrack.Task(
        name="quadratic",
        params={"x0": mltrack.Float(3.0, low=-10, high=10),
                "lr": mltrack.Float(0.1, low=1e-4, high=1, log=True),
                "steps": mltrack.Int(5, low=1, high=100),
                "method": mltrack.Choice(["gd", "momentum"], default="gd")},
        metrics=[mltrack.Metric("loss", goal="min"), mltrack.Metric("x")],
        train=train)
''')
SWEEP = "0.02, 0.05, 0.1, 0.2, 0.35"


def wait_for(predicate, timeout=120.0, step=0.25):
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


def start(workdir: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(workdir), str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "mltrack", "--task", "mytask:task",
                             "--port", "0", "--data-dir", str(workdir / "data")],
                            cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
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


def css_id(cid: dict) -> str:
    """A CSS selector of a Dash pattern-matching id (written as sorted compact JSON)."""
    return f"[id='{json.dumps(cid, sort_keys=True, separators=(',', ':'))}']"


def widget(field: str, kind: str = "text") -> str:
    return css_id({"type": "param", "task": "quadratic", "field": field, "kind": kind})


def choose(driver, selector: str, text: str) -> None:
    driver.find_element(By.CSS_SELECTOR, selector).click()
    time.sleep(0.3)
    options = [o for o in driver.find_elements(By.CSS_SELECTOR, "[role='option']")
               if o.text.strip() == text]
    assert options, f"no option {text!r}"
    options[0].click()
    time.sleep(0.3)
    if driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-options"):
        driver.find_element(By.CSS_SELECTOR, ".brand").click()


def type_into(driver, selector: str, text: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, selector)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(text)


def rows(driver) -> list[dict[str, str]]:
    return driver.execute_script("""
        const rows = [...document.querySelectorAll('#jobs-grid .ag-center-cols-container .ag-row')];
        rows.sort((a, b) => +a.getAttribute('row-index') - +b.getAttribute('row-index'));
        return rows.filter(r => r.getAttribute('row-id')).map(r => {
            const out = {'row-id': r.getAttribute('row-id')};
            r.querySelectorAll('.ag-cell').forEach(c => out[c.getAttribute('col-id')] = c.innerText);
            return out;
        });""")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "mytask.py").write_text(TASK_FILE)
        proc, url = start(workdir)
        driver = browser()
        try:
            driver.get(url)
            wait_for(lambda: driver.find_element(By.ID, "jobs-grid"))
            print("1. pick the task, then a sweep of 5 learning rates")
            choose(driver, "#form-task", "quadratic")
            wait_for(lambda: driver.find_element(By.CSS_SELECTOR, widget("x0")))
            type_into(driver, widget("lr", "log-slider"), SWEEP)
            type_into(driver, widget("steps"), "12")
            preview = wait_for(lambda: "5 jobs" in driver.find_element(
                By.ID, "sweep-preview").text and driver.find_element(By.ID, "sweep-preview").text)
            print("   ", preview)
            driver.save_screenshot(str(DOCS / "task-form.png"))
            driver.find_element(By.ID, "submit").click()
            wait_for(lambda: driver.find_element(By.ID, "submit-result").text
                     == "Queued 5 quadratic jobs.")
            print("2. the worker runs them")
            print("3. only this task in the table, sorted by its primary metric")
            choose(driver, "#task-filter", "quadratic")
            wait_for(lambda: [r["status"].lower() for r in rows(driver)] == ["done"] * 5
                     and "loss" in rows(driver)[0], timeout=300)
            header = "#jobs-grid .ag-header-cell[col-id='loss'] .ag-header-cell-label"
            driver.find_element(By.CSS_SELECTOR, header).click()  # lowest loss first
            wait_for(lambda: (lambda losses: losses == sorted(losses) and losses)(
                [float(r["loss"]) for r in rows(driver)]), timeout=10)
            print("    loss, best first:", [r["loss"] for r in rows(driver)])
            time.sleep(1)
            driver.save_screenshot(str(DOCS / "task-table.png"))
            print("4. overlay the best run and the slowest")
            ranked = rows(driver)
            for row in (ranked[0], ranked[-1]):
                driver.find_element(By.CSS_SELECTOR, f"#jobs-grid .ag-row[row-id='{row['row-id']}'] "
                                                     ".ag-selection-checkbox input").click()
            wait_for(lambda: driver.execute_script(
                "const g = [...document.querySelectorAll('#run-graphs .js-plotly-plot')];"
                "return g.length == 2 && g.every(p => p.data && p.data.length == 2)"))
            driver.execute_script("window.scrollTo(0, document.querySelector('.runs-card')"
                                  ".getBoundingClientRect().top + window.scrollY - 60)")
            time.sleep(1)
            driver.save_screenshot(str(DOCS / "task-runs.png"))
            print("screenshots in", DOCS)
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
