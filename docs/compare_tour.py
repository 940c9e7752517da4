"""The compare view, driven in a real browser on real runs; saves
docs/compare.png (3 runs side by side) and docs/compare-grouped.png (a seed
sweep grouped by learning rate), both at 1280x800.

Starts `python -m mltrack --task examples/digits.py:task` on a fresh data dir
(scikit-learn's bundled digits: nothing to download, a second a run), queues
a sweep of 3 learning rates x 3 seeds through the REST API, lets the worker
run them, then ticks runs in the table as a user would. Needs chromium and
chromedriver, torch and scikit-learn.

    python docs/compare_tour.py
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import requests
from selenium.webdriver.common.by import By

import tour  # the MNIST tour's helpers: start, browser, rows, wait_for
from tour import browser, rows, wait_for

DOCS = Path(__file__).parent
REPO = DOCS.parent
LEARNING_RATES = [0.001, 0.003, 0.01]
SEEDS = [0, 1, 2]
EPOCHS = 15


def pick(driver, selector: str, text: str) -> None:
    """Click option `text` of the dropdown at `selector`."""
    driver.find_element(By.CSS_SELECTOR, selector).click()
    option = wait_for(lambda: [o for o in driver.find_elements(
        By.CSS_SELECTOR, ".dash-dropdown-option") if o.text.strip() == text], timeout=10)
    option[0].click()
    time.sleep(0.3)
    if driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-options"):
        driver.find_element(By.CSS_SELECTOR, ".brand").click()


def tick(driver, iids: list[str]) -> None:
    driver.execute_script("window.scrollTo(0, 0)")  # the table under the sticky header
    time.sleep(0.5)
    for iid in iids:
        driver.find_element(By.CSS_SELECTOR, f"#jobs-grid .ag-row[row-id='{iid}'] "
                                             ".ag-selection-checkbox input").click()
        time.sleep(0.2)


def legend_entries(driver) -> list[list[str]]:
    """Each chart's legend entries (runs or groups, without the line-style key)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#run-graphs .js-plotly-plot')].map(g => "
        "(g.data || []).filter(t => t.showlegend !== false && t.legendgroup !== 'line-style')"
        ".map(t => t.name));")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO), os.environ.get("PYTHONPATH", "")])}
        proc, url = tour.start(Path(tmp) / "data", "--task", "examples/digits.py:task",
                               cwd=REPO, env=env)
        driver = browser()
        try:
            print(f"1. a sweep of {len(LEARNING_RATES)} learning rates x {len(SEEDS)} seeds")
            answer = requests.post(url + "sweep", json={
                "task": "digits", "hyper_params": {"num_epochs": EPOCHS},
                "sweep": {"learning_rate": LEARNING_RATES, "seed": SEEDS}}, timeout=10)
            assert answer.status_code == 201, answer.text
            iids = answer.json()["iids"]
            driver.get(url)
            wait_for(lambda: driver.find_element(By.ID, "jobs-grid"))
            print("2. the worker runs them")
            wait_for(lambda: [r["status"].lower() for r in rows(driver)] == ["done"] * len(iids),
                     timeout=900)
            runs = {(j["hyper_params"]["learning_rate"], j["hyper_params"]["seed"]): j["iid"]
                    for j in (requests.get(f"{url}status/{i}", timeout=10).json() for i in iids)}
            print("3. three runs side by side")
            three = [runs[(0.001, 0)], runs[(0.01, 0)], runs[(0.01, 1)]]
            tick(driver, three)
            wait_for(lambda: len(driver.find_elements(
                By.CSS_SELECTOR, "#run-compare table.compare tbody tr")) == 3
                and all(len(e) == 3 for e in legend_entries(driver)), timeout=30)
            print("    legend:", legend_entries(driver)[0])
            tour.show_runs(driver)
            driver.save_screenshot(str(DOCS / "compare.png"))
            print(f"4. all {len(iids)}, grouped by learning rate")
            tick(driver, [i for i in iids if i not in three])
            wait_for(lambda: all(len(e) == len(iids) for e in legend_entries(driver)),
                     timeout=30)
            pick(driver, "#chart-group", "learning rate")
            wait_for(lambda: all(len(e) == len(LEARNING_RATES) for e in legend_entries(driver))
                     and driver.find_elements(By.CSS_SELECTOR, "table.compare-grouped"),
                     timeout=30)
            print("    legend:", legend_entries(driver)[0])
            # the table per learning rate and the first chart, below the sticky header
            driver.execute_script("window.scrollTo(0, document.querySelector("
                                  "'table.compare-grouped').getBoundingClientRect().top"
                                  " + window.scrollY - 120)")
            time.sleep(1.5)
            driver.save_screenshot(str(DOCS / "compare-grouped.png"))
            print("screenshots in", DOCS)
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
