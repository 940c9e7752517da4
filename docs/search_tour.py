"""An Optuna search started from the browser, watched, and analysed; saves
the screenshots of docs/ (1280x800): search-form.png (the form's search mode),
search-progress.png (the Searches view of a search under way, pruned trials
among them), search-analysis.png (importance, best so far, parallel
coordinates and slices over its trials).

The task is a slow quadratic (gradient descent on x², 0.15 s an epoch, 10
epochs) so that a search can be watched while it runs on 2 workers: MNIST
would take minutes. Needs chromium and chromedriver.

    python docs/search_tour.py
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from selenium.webdriver.common.by import By

import tour  # the MNIST tour's helpers: start, browser, wait_for
from tour import browser, wait_for

DOCS = Path(__file__).parent
REPO = DOCS.parent
TRIALS = 24
TASK_FILE = '''
import time
import mltrack

def train(params, run):
    x, v, start = params["x0"], 0.0, 1
    if run.checkpoint is not None:
        x, v = map(float, run.checkpoint.decode().split())
        start = run.epochs_done + 1
    beta = params["beta"] if params["method"] == "momentum" else 0.0
    for epoch in range(start, params["steps"] + 1):
        if run.should_stop():
            return
        time.sleep(0.15)  # a real model takes a while per epoch: enough to watch it
        v = beta * v + params["lr"] * 2 * x
        x -= v
        run.log(epoch, {"loss": x * x, "x": x}, checkpoint=f"{x} {v}".encode())

task = mltrack.Task(
    name="quadratic",
    params={"x0": mltrack.Float(3.0, low=-10, high=10, help="where x starts"),
            "lr": mltrack.Float(0.1, low=1e-4, high=1, log=True, help="step size"),
            "steps": mltrack.Int(10, low=1, high=100, help="gradient steps, one per epoch"),
            "method": mltrack.Choice(["gd", "momentum"], default="gd"),
            "beta": mltrack.Float(0.9, low=0, high=0.99, when={"method": ["momentum"]},
                                  help="momentum's memory")},
    metrics=[mltrack.Metric("loss", goal="min"), mltrack.Metric("x")],
    train=train, epochs="steps", description="x² by gradient descent, 0.15 s a step")
'''


def dom_id(cid: dict) -> str:
    return json.dumps(cid, sort_keys=True, separators=(",", ":"))


def set_props(driver, cid, props) -> None:
    """Set a component's props as the page's own callbacks would."""
    driver.execute_script("dash_clientside.set_props(arguments[0], arguments[1]);", cid, props)


def scroll_to(driver, element_id: str) -> None:
    driver.execute_script("document.getElementById(arguments[0]).scrollIntoView();"
                          "window.scrollBy(0, -100);", element_id)
    time.sleep(0.8)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "slowtask.py").write_text(TASK_FILE)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(workdir), str(REPO), os.environ.get("PYTHONPATH", "")])}
        proc, url = tour.start(workdir / "data", "--task", "slowtask:task", "--workers", "2",
                               cwd=workdir, env=env)
        driver = browser()
        try:
            driver.get(url)
            wait_for(lambda: driver.find_element(By.ID, "jobs-grid"))
            print("1. the form in search mode: lr over a log range, method over choices")
            set_props(driver, "form-task", {"value": "quadratic"})
            key = {"task": "quadratic", "field": "lr"}
            wait_for(lambda: driver.execute_script(
                "return document.getElementById(arguments[0])", dom_id({"type": "search-how",
                                                                      **key})))
            driver.find_element(By.CSS_SELECTOR, "#form-mode input[value='search']").click()
            set_props(driver, {"type": "search-how", **key}, {"value": "range"})
            set_props(driver, {"type": "search-low", **key}, {"value": "0.001"})
            set_props(driver, {"type": "search-high", **key}, {"value": "0.5"})
            x0 = {"type": "param", "task": "quadratic", "field": "x0", "kind": "text"}
            set_props(driver, x0, {"value": "-4, 2, 5"})
            set_props(driver, {"type": "search-how", "task": "quadratic", "field": "x0"},
                      {"value": "choices"})
            method = {"type": "param", "task": "quadratic", "field": "method", "kind": "choice"}
            set_props(driver, method, {"value": ["gd", "momentum"]})
            set_props(driver, {"type": "search-how", "task": "quadratic", "field": "method"},
                      {"value": "choices"})
            set_props(driver, "search-trials", {"value": str(TRIALS)})
            set_props(driver, "search-name", {"value": "lr, x0 and method"})
            time.sleep(1.0)
            driver.execute_script("document.getElementById('search-panel').scrollIntoView();")
            time.sleep(0.5)
            driver.save_screenshot(str(DOCS / "search-form.png"))
            driver.find_element(By.ID, "search-submit").click()
            wait_for(lambda: "Started search" in driver.find_element(
                By.ID, "search-started").text, timeout=30)
            print("2. the search runs: 2 trials at a time, the median pruner stops laggards")
            scroll_to(driver, "searches")
            wait_for(lambda: "pruned" in driver.find_element(By.ID, "search-progress-text").text
                     and "running" in driver.find_element(By.ID, "search-progress-text").text,
                     timeout=300)
            time.sleep(1.6)  # one more refresh: the chart and table caught up
            scroll_to(driver, "searches")
            print("   ", driver.find_element(By.ID, "search-progress-text").text)
            driver.save_screenshot(str(DOCS / "search-progress.png"))
            wait_for(lambda: f"{TRIALS} of {TRIALS} finished" in driver.find_element(
                By.ID, "search-progress-text").text, timeout=600)
            print("   ", driver.find_element(By.ID, "search-progress-text").text)
            print("3. which hyperparameters mattered: the analysis of its trials")
            driver.find_element(By.ID, "search-analyse").click()
            wait_for(lambda: "search lr, x0" in driver.find_element(By.ID, "analysis-note").text,
                     timeout=60)
            wait_for(lambda: len(driver.find_elements(
                By.CSS_SELECTOR, "#analysis-body .js-plotly-plot")) >= 4, timeout=60)
            print("   ", driver.find_element(By.ID, "analysis-note").text)
            scroll_to(driver, "analysis")
            driver.save_screenshot(str(DOCS / "search-analysis.png"))
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
