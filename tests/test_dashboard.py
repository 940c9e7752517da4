"""The dashboard in a real browser (Debian's chromium, through dash_duo)."""
from __future__ import annotations

import json
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dash_requests import CALLBACK_PATH, callback_body, find_callback, server_callbacks
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


@pytest.fixture
def watched_app(store):
    """The real app on waitress, recording the status of every callback request."""
    import threading

    import waitress
    from mltrack.app import create_app
    from mltrack.security import SERVER_MAX_BODY

    server = create_app(store)
    statuses: list[tuple[int, str]] = []

    @server.after_request
    def record(response):
        from flask import request
        if request.path == CALLBACK_PATH:
            statuses.append((response.status_code, request.get_data(as_text=True)[:300]))
        return response

    http = waitress.create_server(server, host="127.0.0.1", port=0, threads=8,
                                  max_request_body_size=SERVER_MAX_BODY)
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.effective_port}", statuses
    http.close()
    thread.join(5)


def test_clone_in_the_page_keeps_full_precision_and_the_page_passes_the_guard(
        dash_duo, watched_app, store):
    url, statuses = watched_app
    iid = store.create(HyperParams(model="mlp", optimizer="sgd", learning_rate=0.0012345678,
                                   momentum=0.9))
    open_dashboard(dash_duo, url)
    select_row(dash_duo, iid)
    button = dash_duo.find_element("#action-clone")
    wait_for(lambda: button.is_enabled())
    button.click()
    dash_duo.wait_for_text_to_equal("#form-learning_rate", "0.0012345678")  # was 0.00123457
    dash_duo.wait_for_text_to_equal("#form-momentum", "0.9")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 job.")
    clones = [j for j in store.list_jobs().jobs if j.iid != iid]
    assert [j.hyper_params for j in clones] == [store.get(iid).hyper_params]
    dash_duo.find_element("#form-lr-slider [role='slider']").send_keys(Keys.ARROW_LEFT)
    wait_for(lambda: dash_duo.find_element("#form-learning_rate").get_attribute("value")
             != "0.0012345678")  # the slider rewrites the text
    time.sleep(2 * 1.5)  # two refresh ticks: header, grid, run view
    # Every request the real page sent fits its callback: the guard refused none.
    assert statuses and all(code in (200, 204) for code, _ in statuses), [
        s for s in statuses if s[0] not in (200, 204)]

# -- callback requests without a browser: any page can post anything to them ----------
def _reject_constant(name):
    raise AssertionError(f"{name} in a JSON answer")


def call(client, body, raw: bool = False):
    data = body if raw else json.dumps(body)
    return client.post(CALLBACK_PATH, data=data, content_type="application/json")


def snapshot(store):
    return sorted((k, store.redis.type(k)) for k in store.redis.scan_iter(f"{store.prefix}*"))


ROWS = "jobs-grid.getRowsResponse"


def rows_body(app, request, status=None, text=None):
    return callback_body(app, ROWS, {"jobs-grid.getRowsRequest": request,
                                     "status-filter.value": status, "text-filter.value": text},
                         ["jobs-grid.getRowsRequest"])


def _bad_bodies(app):
    """(body or raw text, field named in the 400)."""
    rows = rows_body(app, {"startRow": 0, "endRow": 100})
    form = find_callback(app, "field-error")
    form_body = callback_body(app, form, changed=["form-seed.value"])

    def changed(body, **over):
        return {**body, **over}

    def wildcard_output(field_id):
        body = json.loads(json.dumps(form_body))
        body["outputs"][0][0]["id"] = field_id
        return body

    return [
        ({}, "output"), ([], "body"), ("null", "body"), ('"x"', "body"), ("{", "body"),
        ("", "body"), ("[" * 1000 + "]" * 1000, "body"), ('{"output": NaN}', "body"),
        ({"output": "nope.children", "outputs": {"id": "nope", "property": "children"},
          "inputs": [], "changedPropIds": []}, "output"),
        ({"output": ["x"]}, "output"),
        (changed(rows, output="grid-refreshed.data"), "output"),  # runs in the page
        (changed(rows, inputs=[]), "inputs"), (changed(rows, inputs={}), "inputs"),
        (changed(rows, inputs=[{"id": "tick", "property": "getRowsRequest"}]), "inputs[0].id"),
        (changed(rows, inputs=[{"id": "jobs-grid", "property": "rowData"}]),
         "inputs[0].property"),
        (changed(rows, inputs=["jobs-grid.getRowsRequest"]), "inputs[0]"),
        ({k: v for k, v in rows.items() if k != "state"}, "state"),
        (changed(rows, state=rows["state"][:1]), "state"),
        (changed(rows, outputs={"id": "jobs-grid", "property": "rowData"}),
         "outputs.property"),
        (changed(rows, outputs=None), "outputs"),
        (changed(rows, outputs=[{"id": "jobs-grid", "property": "getRowsResponse"}]), "outputs"),
        (changed(rows, changedPropIds=["{bad json.x"]), "changedPropIds"),
        (changed(rows, changedPropIds="jobs-grid.getRowsRequest"), "changedPropIds"),
        (changed(rows, changedPropIds=[5]), "changedPropIds"),
        (changed(rows, changedPropIds=["tick.n_intervals"]), "changedPropIds"),
        (changed(rows, inputs=[{"id": "jobs-grid", "property": "getRowsRequest",
                                "value": json.loads("[" * 100 + "]" * 100)}]), "body"),
        (changed(form_body, outputs=[{"id": "x", "property": "children"}] * 5), "outputs[0]"),
        (wildcard_output({"type": "field-error"}), "outputs[0][0].id"),
        (wildcard_output({"type": "other", "field": "seed"}), "outputs[0][0].id.type"),
        (wildcard_output({"type": "field-error", "field": ["seed"]}), "outputs[0][0].id.field"),
        (wildcard_output("field-error"), "outputs[0][0].id"),
    ]


def test_malformed_callback_requests_are_400_naming_the_part(app, client, store):
    store.create(HyperParams())
    before = snapshot(store)
    cases = _bad_bodies(app)
    for body, field in cases:
        raw = isinstance(body, str)
        r = call(client, body, raw=raw)
        assert r.status_code == 400, (body if raw else json.dumps(body)[:300], r.data[:300])
        answer = json.loads(r.get_data(as_text=True), parse_constant=_reject_constant)
        assert answer["field"] == field, (field, answer)
    assert snapshot(store) == before and len(cases) >= 30


def test_a_well_formed_rows_request_answers_rows(app, client, store):
    iids = [store.create(HyperParams(seed=n)) for n in range(3)]
    r = call(client, rows_body(app, {"startRow": 0, "endRow": 100,
                                     "sortModel": [{"colId": "created", "sort": "asc"}]}))
    assert r.status_code == 200
    got = r.json["response"]["jobs-grid"]["getRowsResponse"]
    assert [row["iid"] for row in got["rowData"]] == iids and got["rowCount"] == 3


@pytest.mark.parametrize("request_, status, text", [
    ({"startRow": -5, "endRow": 100}, None, None),  # the issue's: ValueError, 500
    ({"startRow": "a", "endRow": 100}, None, None),  # the issue's: TypeError, 500
    ({"startRow": 0, "endRow": "b"}, None, None), ({"startRow": 50, "endRow": 10}, None, None),
    ({"startRow": 2**63, "endRow": 2**63 + 100}, None, None),  # Redis range error
    ({"startRow": 10**9 + 1, "endRow": 10**9 + 100}, None, None),
    ({"startRow": True, "endRow": 100}, None, None), ({"startRow": 1.5, "endRow": 100}, None, None),
    ({"startRow": None, "endRow": 100}, None, None),
    ("rows please", None, None), ([1, 2], None, None), (5, None, None),
    ({"startRow": 0, "endRow": 100}, "lost", None), ({"startRow": 0, "endRow": 100}, 5, None),
    ({"startRow": 0, "endRow": 100}, ["done"], None), ({"startRow": 0, "endRow": 100}, None, 7),
    ({"startRow": 0, "endRow": 100}, None, {"q": "x"}),
])
def test_nonsense_rows_requests_change_nothing_and_are_not_500(app, client, store, request_,
                                                               status, text):
    store.create(HyperParams())
    before = snapshot(store)
    r = call(client, rows_body(app, request_, status, text))
    assert r.status_code == 204  # PreventUpdate: the grid keeps what it shows
    assert snapshot(store) == before


def test_the_grids_sort_model_may_be_anything(app, client, store):
    store.create(HyperParams())
    for model in ([1], ["x"], [{"colId": ["x"], "sort": "asc"}], {"colId": "seed"}, "created",
                  [{"colId": "learning_rate", "sort": "sideways"}], [None]):
        r = call(client, rows_body(app, {"startRow": 0, "endRow": 10, "sortModel": model}))
        assert r.status_code == 200 and r.json["response"]["jobs-grid"]["getRowsResponse"][
            "rowCount"] == 1


def _act_body(app, trigger, selected, version=0):
    key = find_callback(app, "action-result.children")
    return callback_body(app, key, {"jobs-grid.selectedRows": selected,
                                    "grid-version.data": version, trigger: 1},
                         [trigger] if trigger else [])


@pytest.mark.parametrize("selected", [
    "all", 5, [1], [None], [{"iid": 5, "status": "done"}], [{"status": "done"}],
    [{"iid": "0" * 32 + "\n", "status": "done"}], [{"iid": "x", "status": "done"}],
    {"iid": "0" * 32}, [{"iid": "0" * 32, "status": ["done"]}],
])
def test_actions_on_nonsense_rows_change_nothing(app, client, store, selected):
    iid = store.create(HyperParams())
    store.cancel(iid)
    before = snapshot(store)
    for trigger in ("confirm-delete.submit_n_clicks", "confirm-cancel.submit_n_clicks",
                    "action-retry.n_clicks"):
        r = call(client, _act_body(app, trigger, selected))
        assert r.status_code == 204, (trigger, r.data[:300])
    for fragment in ("confirm-cancel.displayed", "confirm-delete.displayed", "action-clone",
                     "form-model.value@"):
        key = find_callback(app, fragment)
        trigger = {"confirm-cancel.displayed": "action-cancel.n_clicks",
                   "confirm-delete.displayed": "action-delete.n_clicks"}.get(
            fragment, "action-clone.n_clicks")
        if fragment == "action-clone":  # the selection callback: its input is the rows
            trigger = "jobs-grid.selectedRows"
        body = callback_body(app, key, {"jobs-grid.selectedRows": selected, trigger: 1}, [trigger])
        assert call(client, body).status_code == 204, fragment
    assert snapshot(store) == before


def test_an_action_with_no_trigger_changes_nothing(app, client, store):
    iid = store.create(HyperParams())
    store.cancel(iid)
    before = snapshot(store)
    r = call(client, _act_body(app, None, [{"iid": iid, "status": "cancelled"}]))
    assert r.status_code == 204  # was KeyError(None), 500
    assert snapshot(store) == before


def test_an_action_on_real_rows_still_works_and_counts_its_version(app, client, store):
    iid = store.create(HyperParams())
    store.cancel(iid)
    for version, expected in ((3, 4), ("x", 1), (None, 1), (2**60, 1)):
        retry = call(client, _act_body(app, "action-retry.n_clicks",
                                       [{"iid": iid, "status": "cancelled"}], version))
        assert retry.status_code == 200
        assert retry.json["response"]["grid-version"]["data"] == expected
    assert store.counts()["waiting"] == 4


@pytest.mark.parametrize("chosen, search", [
    (["x"], None), ("0" * 32, None), ([5], None), ([["0" * 32]], None), (None, 5),
    (None, ["mlp"]), (["0" * 32] * 101, None),
])
def test_the_run_picker_ignores_nonsense(app, client, store, chosen, search):
    store.create(HyperParams())
    options = find_callback(app, "run-select.options")
    r = call(client, callback_body(app, options, {"run-select.value": chosen,
                                                  "run-select.search_value": search},
                                   ["run-select.value"]))
    assert r.status_code == 204
    if search is None:
        view = find_callback(app, "loss-graph.figure")
        r = call(client, callback_body(app, view, {"run-select.value": chosen},
                                       ["run-select.value"]))
        assert r.status_code == 204


@pytest.mark.parametrize("exponent", ["a", 1e308, -1e308, 7, None, [1], True])
def test_the_learning_rate_slider_ignores_positions_it_does_not_have(app, client, exponent):
    key = find_callback(app, "form-lr-slider.value")
    r = call(client, callback_body(app, key, {"form-lr-slider.value": exponent,
                                              "form-learning_rate.value": "0.001"},
                                   ["form-lr-slider.value"]))
    assert r.status_code == 204


@pytest.mark.parametrize("text, exponent", [
    ("nan", None), ("inf", None), ("-1", None), ("1e400", None), ("0", None), ([0.1], None),
    ("0.01", -2), ("1e-9", -5), ("10", 1),
])
def test_the_learning_rate_text_moves_the_slider_only_when_it_is_a_rate(app, client, text,
                                                                        exponent):
    key = find_callback(app, "form-lr-slider.value")
    r = call(client, callback_body(app, key, {"form-lr-slider.value": -3,
                                              "form-learning_rate.value": text},
                                   ["form-learning_rate.value"]))
    assert r.status_code == 200
    answer = json.loads(r.get_data(as_text=True), parse_constant=_reject_constant)
    assert "form-learning_rate" not in answer["response"]  # the text is the truth
    moved = answer["response"].get("form-lr-slider", {}).get("value")
    assert moved == exponent


def test_the_form_check_takes_any_value_without_a_500(app, client, store):
    key = find_callback(app, "field-error")
    values = ["9" * 400, 10**400 // 10**300, [1] * 2000, {"a": 1}, [None], True, -0.0, "1e400",
              [[0.1]], "0.1," * 1500]
    for n, value in enumerate(values):
        field = views.FORM_FIELDS[n % len(views.FORM_FIELDS)]
        body = callback_body(app, key, {f"form-{f}.value": value for f in views.FORM_FIELDS},
                             [f"form-{field}.value"])
        r = call(client, body)
        assert r.status_code == 200, (value, r.data[:300])
        assert r.json["response"]["submit"]["disabled"] is True  # every field refused
    assert store.counts()["total"] == 0


def test_clone_fills_the_form_at_full_precision(app, client, store):
    iid = store.create(HyperParams(learning_rate=0.0012345678, optimizer="sgd",
                                   momentum=0.912345678, weight_decay=1.5e-7))
    key = find_callback(app, "form-model.value@")
    r = call(client, callback_body(app, key, {"action-clone.n_clicks": 1,
                                              "jobs-grid.selectedRows": [{"iid": iid,
                                                                          "status": "waiting"}]},
                                   ["action-clone.n_clicks"]))
    assert r.status_code == 200
    form = {cid.removeprefix("form-"): v["value"] for cid, v in r.json["response"].items()}
    assert form["learning_rate"] == "0.0012345678"  # `:g` made it 0.00123457
    assert form["momentum"] == "0.912345678" and form["weight_decay"] == "1.5e-07"
    jobs, errors = views.parse_form(form)
    assert errors == {} and jobs == [HyperParams.parse(store.get(iid).hyper_params)]


def test_clone_of_a_job_deleted_meanwhile_changes_nothing(app, client, store):
    key = find_callback(app, "form-model.value@")
    r = call(client, callback_body(app, key, {"action-clone.n_clicks": 1,
                                              "jobs-grid.selectedRows": [{"iid": "0" * 32,
                                                                          "status": "done"}]},
                                   ["action-clone.n_clicks"]))
    assert r.status_code == 204  # was JobNotFound, a 404 from a callback


def test_every_server_callback_answers_its_renderers_first_request(app, client, store):
    """Each callback as the page first calls it (no values, nothing changed): no 500."""
    store.create(HyperParams())
    for key in server_callbacks(app):
        r = call(client, callback_body(app, key))
        assert r.status_code in (200, 204), (key, r.data[:300])


def test_the_run_view_is_strict_json_when_a_stored_metric_is_not_finite(app, client, store):
    iid = finished_job(store, 97.0, 10.0, epochs=2, model="mlp")
    epoch = json.loads(store.redis.lindex(store.keys.epochs(iid), 0))
    epoch.update(train_loss=float("nan"), test_accuracy=float("inf"))
    store.redis.lset(store.keys.epochs(iid), 0, json.dumps(epoch))  # json.dumps writes NaN
    store.redis.hset(store.keys.job(iid), mapping={"m:train_loss": "nan"})
    view = find_callback(app, "loss-graph.figure")
    r = call(client, callback_body(app, view, {"run-select.value": [iid]}, ["run-select.value"]))
    assert r.status_code == 200
    answer = json.loads(r.get_data(as_text=True), parse_constant=_reject_constant)
    losses = [t["y"] for t in answer["response"]["loss-graph"]["figure"]["data"]]
    assert [None, 1.0 / (2 + 0.97)] in losses  # the train loss: NaN shown as a gap
    rows = call(client, rows_body(app, {"startRow": 0, "endRow": 10}))
    got = json.loads(rows.get_data(as_text=True), parse_constant=_reject_constant)
    assert got["response"]["jobs-grid"]["getRowsResponse"]["rowData"][0]["train_loss"] is None
