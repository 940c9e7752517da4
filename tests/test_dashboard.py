"""The dashboard in a real browser (Debian's chromium, through dash_duo)."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from helpers import wait_for
from mltrack.params import HyperParams
from mltrack.store import Status
from mltrack import views

DOCS = None  # set DOCS to a folder to save screenshots while the tests run


def finished_job(store, accuracy: float, runtime: float, epochs: int = 3, **hp) -> str:
    """A job taken through claim, epochs and done, as a worker would record it."""
    iid = store.create(HyperParams(num_epochs=epochs, **hp))
    claim = store.claim("test-worker")
    assert claim.iid == iid
    for n in range(1, epochs + 1):
        store.record_epoch(iid, claim.attempt, {
            "epoch": n, "train_loss": 1.0 / (n + accuracy / 100), "train_accuracy": accuracy - 3 + n,
            "test_loss": 1.2 / (n + accuracy / 100), "test_accuracy": accuracy - epochs + n,
            "time_training": runtime * n / epochs})
    store.finish(iid, claim.attempt, Status.DONE)
    return iid


def grid_rows(dash_duo) -> list[dict[str, str]]:
    """The rendered rows of the grid, in display order, as {col-id: text}."""
    rows = dash_duo.driver.execute_script("""
        const rows = [...document.querySelectorAll('#jobs-grid .ag-center-cols-container .ag-row')];
        rows.sort((a, b) => +a.getAttribute('row-index') - +b.getAttribute('row-index'));
        return rows.map(r => {
            const out = {'row-id': r.getAttribute('row-id')};
            r.querySelectorAll('.ag-cell').forEach(c => out[c.getAttribute('col-id')] = c.innerText);
            return out;
        });""")
    return [r for r in rows if r.get("row-id")]


def open_dashboard(dash_duo, url):
    dash_duo.driver.set_window_size(1280, 800)
    dash_duo.server_url = url
    dash_duo.wait_for_element("#jobs-grid")


def select_row(dash_duo, iid):
    box = wait_for(lambda: dash_duo.driver.find_elements(
        By.CSS_SELECTOR, f"#jobs-grid .ag-row[row-id='{iid}'] .ag-selection-checkbox input"))
    box[0].click()


def test_submit_a_job_through_the_form_and_see_it_in_the_table(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    dash_duo.find_element("#form-num_epochs").send_keys(Keys.BACKSPACE, "2")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 job.")
    job = wait_for(lambda: store.list_jobs().jobs)[0]
    assert job.hyper_params["num_epochs"] == 2 and job.status is Status.WAITING
    rows = wait_for(lambda: grid_rows(dash_duo))
    assert rows[0]["row-id"] == job.iid and rows[0]["status"].lower() == "waiting"
    assert rows[0]["epochs"] == "0/2"
    dash_duo.wait_for_contains_text("#count-waiting", "1")


def test_a_sweep_shows_its_size_and_goes_in_as_one_batch(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    lr = dash_duo.find_element("#form-learning_rate")
    dash_duo.clear_input(lr)
    lr.send_keys("0.1, 0.01, 0.001")
    dash_duo.select_dcc_dropdown("#form-optimizer", value="sgd")
    dash_duo.find_element(".brand").click()  # close the dropdown menu
    dash_duo.wait_for_contains_text("#sweep-preview", "This will queue 6 jobs")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 6 jobs")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 6 jobs.")
    jobs = store.list_jobs().jobs
    assert len(jobs) == 6
    assert {(j.hyper_params["optimizer"], j.hyper_params["learning_rate"]) for j in jobs} == {
        (o, lr) for o in ("adam", "sgd") for lr in (0.1, 0.01, 0.001)}
    assert len({j.created for j in jobs}) == 1  # one batch, one moment


def test_a_bad_learning_rate_is_explained_next_to_the_field(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    lr = dash_duo.find_element("#form-learning_rate")
    dash_duo.clear_input(lr)
    lr.send_keys("20")
    dash_duo.wait_for_contains_text(
        "div[id*='learning_rate'][id*='field-error']", "0 < learning_rate <= 10")
    assert dash_duo.find_element("#submit").get_attribute("disabled") == "true"
    dash_duo.clear_input(lr)
    lr.send_keys("fast")
    dash_duo.wait_for_contains_text(
        "div[id*='learning_rate'][id*='field-error']", "not a number")
    assert store.counts()["total"] == 0


def test_sort_by_test_accuracy_and_by_run_time(dash_duo, live_app, store):
    accuracies = [97.5, 91.0, 99.1, 95.2, 93.3]
    runtimes = [30.0, 5.0, 60.0, 12.0, 45.0]
    for acc, rt in zip(accuracies, runtimes):
        finished_job(store, acc, rt, model="mlp")
    open_dashboard(dash_duo, live_app)
    wait_for(lambda: len(grid_rows(dash_duo)) == 5)
    header = "#jobs-grid .ag-header-cell[col-id='{}'] .ag-header-cell-label"

    def column(col):
        return [r[col] for r in grid_rows(dash_duo)]

    dash_duo.find_element(header.format("test_accuracy")).click()  # ascending
    expected = [f"{a:.2f}%" for a in sorted(accuracies)]
    wait_for(lambda: column("test_accuracy") == expected, timeout=10)
    dash_duo.find_element(header.format("test_accuracy")).click()  # descending
    wait_for(lambda: column("test_accuracy") == expected[::-1], timeout=10)
    dash_duo.find_element(header.format("runtime")).click()
    expected_rt = [views.duration(r) for r in sorted(runtimes)]
    wait_for(lambda: column("runtime") == expected_rt, timeout=10)
    # the sort survives live refreshes
    time.sleep(3.5)
    assert column("runtime") == expected_rt


def test_open_runs_and_see_both_charts_with_every_epoch(dash_duo, live_app, store):
    first = finished_job(store, 97.0, 20.0, epochs=4, model="mlp")
    second = finished_job(store, 98.5, 40.0, epochs=2, model="cnn", learning_rate=0.01)
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, first)
    select_row(dash_duo, second)

    def points(graph):
        return dash_duo.driver.execute_script(
            f"const g = document.querySelector('#{graph} .js-plotly-plot');"
            "return g && g.data ? g.data.map(t => [t.name, t.x.length]) : [];")

    loss = wait_for(lambda: len(points("loss-graph")) == 4 and points("loss-graph"))
    accuracy = wait_for(lambda: len(points("accuracy-graph")) == 4 and points("accuracy-graph"))
    for traces in (loss, accuracy):
        lengths = {name: n for name, n in traces}
        assert sorted(lengths.values()) == [2, 2, 4, 4]
        assert any("mlp · adam · lr 0.001" in name for name in lengths)
        assert any("cnn · adam · lr 0.01" in name for name in lengths)
    dash_duo.wait_for_contains_text("#run-details", "test acc %")
    if DOCS:
        dash_duo.driver.save_screenshot(f"{DOCS}/runs.png")


def test_cancel_a_job_from_the_ui(dash_duo, live_app, store):
    iid = store.create(HyperParams(model="mlp"))
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, iid)
    button = dash_duo.find_element("#action-cancel")
    wait_for(lambda: button.is_enabled())
    button.click()
    alert = wait_for(lambda: _alert(dash_duo))
    assert "Cancel 1 job" in alert.text
    alert.accept()
    wait_for(lambda: store.get(iid).status is Status.CANCELLED)
    dash_duo.wait_for_contains_text("#action-result", "Cancelled 1 job")
    wait_for(lambda: grid_rows(dash_duo)[0]["status"].lower() == "cancelled", timeout=10)


def test_failed_run_shows_its_error(dash_duo, live_app, store):
    iid = store.create(HyperParams(model="mlp"))
    claim = store.claim("w")
    store.finish(iid, claim.attempt, Status.FAILED, error="RuntimeError: out of memory",
                 traceback="Traceback (most recent call last):\n  ...")
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, iid)
    dash_duo.wait_for_contains_text("#run-details", "RuntimeError: out of memory")


def _alert(dash_duo):
    try:
        return dash_duo.driver.switch_to.alert
    except Exception:
        return None


def test_filter_the_table_by_status_and_by_text(dash_duo, live_app, store):
    done_mlp = finished_job(store, 97.0, 10.0, model="mlp")
    finished_job(store, 98.0, 20.0, model="cnn")
    waiting_sgd = store.create(HyperParams(model="mlp", optimizer="sgd"))
    open_dashboard(dash_duo, live_app)
    wait_for(lambda: len(grid_rows(dash_duo)) == 3)
    dash_duo.select_dcc_dropdown("#status-filter", value="done")
    wait_for(lambda: {r["status"].lower() for r in grid_rows(dash_duo)} == {"done"}
             and len(grid_rows(dash_duo)) == 2, timeout=10)
    dash_duo.find_element("#text-filter").send_keys("mlp")
    wait_for(lambda: [r["row-id"] for r in grid_rows(dash_duo)] == [done_mlp], timeout=10)
    dash_duo.find_element(".brand").click()
    dash_duo.clear_input("#text-filter")
    dash_duo.find_element("#text-filter").send_keys("sgd")
    dash_duo.select_dcc_dropdown("#status-filter", value="waiting")
    wait_for(lambda: [r["row-id"] for r in grid_rows(dash_duo)] == [waiting_sgd], timeout=10)
