"""The table's CSV export (issue 11), the form's fast preset (issue 13) and the
form keeping to tasks it can queue (tracked-only tasks have no worker)."""
from __future__ import annotations

import csv
import io

import requests

from dash_requests import CALLBACK_PATH, callback_body, find_callback
from helpers import wait_for
from mltrack.params import FAST_PRESET, MNIST, HyperParams
from test_dashboard import finished_job, open_dashboard, param


def csv_iids(url: str) -> list[str]:
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    return [row["iid"] for row in csv.DictReader(io.StringIO(answer.text))]


def test_export_csv_is_the_table_as_filtered_and_sorted(dash_duo, live_app, store):
    low = finished_job(store, 96.0, 10.0, epochs=1, model="mlp")
    high = finished_job(store, 98.5, 10.0, epochs=1, model="mlp")
    finished_job(store, 99.0, 10.0, epochs=1, model="cnn")  # filtered out by the text
    store.create(HyperParams(model="mlp"))  # waiting: filtered out by the status
    open_dashboard(dash_duo, f"{live_app}/?status=done&q=mlp&sort=test_accuracy&order=asc")
    link = dash_duo.find_element("#export-csv")
    wait_for(lambda: "sort=test_accuracy" in (link.get_attribute("href") or ""))
    href = link.get_attribute("href")
    assert "order=asc" in href and "status=done" in href and "q=mlp" in href
    assert csv_iids(href) == [low, high]  # every row the table lists, in its order


def test_the_fast_preset_fills_the_mnist_form_and_queues_it(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    dash_duo.find_element("#preset-fast").click()
    # the form is rebuilt with the preset's values (read afresh: its widgets are new)
    value = lambda field: dash_duo.driver.execute_script(  # noqa: E731
        "const e = document.querySelector(arguments[0]); return e ? e.value : null;",
        param("mnist", field))
    wait_for(lambda: value("learning_rate") == "0.005")
    assert value("batch_size") == "128" and value("num_epochs") == "2"
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    dash_duo.find_element("#submit").click()
    wait_for(lambda: store.counts()["total"] == 1)
    job = store.list_jobs().jobs[0]
    assert job.hyper_params == {**HyperParams().to_dict(), **FAST_PRESET}


def test_the_form_offers_no_task_that_is_only_tracked(app, client, store):
    started = client.post("/runs", json={"task": "scripted", "hyper_params": {"lr": 0.1}})
    assert started.status_code == 201
    run = started.get_json()
    logged = client.post(f"/runs/{run['iid']}/log", json={"token": run["token"], "epoch": 1,
                                                         "metrics": {"loss": 0.5}})
    assert logged.status_code == 200
    key = find_callback(app, "form-task.options")
    answer = client.post(CALLBACK_PATH, json=callback_body(app, key, {"task-filter.value": None},
                                                           ["tick.n_intervals"]))
    assert answer.status_code == 200
    outputs = answer.get_json()["response"]
    form_tasks = [o["value"] for o in outputs["form-task"]["options"]]
    filter_tasks = [o["value"] for o in outputs["task-filter"]["options"]]
    assert "scripted" in filter_tasks and "scripted" not in form_tasks
    assert MNIST.name in form_tasks


def test_a_link_to_the_runs_opens_at_the_runs(dash_duo, live_app, store):
    for accuracy in (96.0, 97.0, 98.0):
        finished_job(store, accuracy, 10.0, epochs=1, model="mlp")
    open_dashboard(dash_duo, f"{live_app}/?status=done#runs")
    top = lambda: dash_duo.driver.execute_script(  # noqa: E731
        "return document.getElementById('runs').getBoundingClientRect().top;")
    # scrolled to the runs: they are at the top, or the page is scrolled as far as it goes
    scrolled = lambda: dash_duo.driver.execute_script(  # noqa: E731
        "return window.scrollY > 0 && window.scrollY + window.innerHeight >= "
        "document.documentElement.scrollHeight - 2;")
    wait_for(lambda: abs(top()) < 100 or scrolled())
    wait_for(lambda: dash_duo.driver.execute_script("return window.location.hash;") == "#runs")
    assert "status=done" in dash_duo.driver.current_url


def test_all_matching_enables_only_what_the_matching_jobs_allow(dash_duo, live_app, store):
    for accuracy in (96.0, 97.0):
        finished_job(store, accuracy, 10.0, epochs=1, model="mlp")
    store.create(HyperParams(model="cnn"))  # waiting, but filtered out
    open_dashboard(dash_duo, live_app)
    dash_duo.find_element("#text-filter").send_keys("mlp")
    dash_duo.wait_for_text_to_equal("#match-count", "2 matching")
    dash_duo.find_element("#all-matching input").click()
    dash_duo.wait_for_text_to_equal("#ticked-count", "acting on all 2 matching jobs")
    enabled = lambda name: dash_duo.find_element(f"#action-{name}").is_enabled()  # noqa: E731
    wait_for(lambda: enabled("delete"))
    # every matching job is done: nothing to cancel or retry
    assert not enabled("cancel") and not enabled("retry") and not enabled("clone")
