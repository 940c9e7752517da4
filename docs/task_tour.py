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

import os
import tempfile
import time
from pathlib import Path

from selenium.webdriver.common.by import By

import tour  # the MNIST tour's helpers: start, browser, rows, type_into, wait_for
from tour import browser, rows, type_into, wait_for

DOCS = Path(__file__).parent
REPO = DOCS.parent
# the task file, as a user would write it
TASK_FILE = (REPO / "examples" / "quadratic.py").read_text()
SWEEP = "0.02, 0.05, 0.1, 0.2, 0.35"


def widget(field: str, kind: str = "text") -> str:
    return tour.widget(field, kind, task="quadratic")


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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "mytask.py").write_text(TASK_FILE)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(workdir), str(REPO), os.environ.get("PYTHONPATH", "")])}
        proc, url = tour.start(workdir / "data", "--task", "mytask:task", cwd=workdir, env=env)
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
                "return g.length == 2 && g.every(p => p.data && p.data.filter(t => "
                "t.showlegend !== false && t.legendgroup !== 'line-style').length == 2)"))
            tour.show_runs(driver)
            driver.save_screenshot(str(DOCS / "task-runs.png"))
            print("screenshots in", DOCS)
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
