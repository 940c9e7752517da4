"""The run view in a real browser (chromium through dash_duo) and through its
callbacks: runs ticked in the table, live curves, zoom across refreshes, many
runs, and the compare view (table of what differs, legends, group-by)."""
from __future__ import annotations

import json
import time

from selenium.webdriver.common.by import By

from dash_requests import CALLBACK_PATH, callback_body, find_callback
from helpers import wait_for
from mltrack import compare, run_view, views
from mltrack.params import MNIST, HyperParams
from mltrack.store import Status
from sample_tasks import QUADRATIC, quadratic_run
from test_dashboard import click_when_there

REFRESH_S = 1.5


def open_dashboard(dash_duo, url):
    dash_duo.driver.set_window_size(1280, 800)
    dash_duo.server_url = url
    dash_duo.wait_for_element("#jobs-grid")


def tick_row(dash_duo, iid):
    click_when_there(dash_duo, f"#jobs-grid .ag-row[row-id='{iid}'] .ag-selection-checkbox input")


def tick_rows(dash_duo, iids) -> None:
    """Tick many rows through the grid's own selection (as shift-clicks would)."""
    wait_for(lambda: dash_duo.driver.execute_script(
        "const api = dash_ag_grid.getApi('jobs-grid');"
        "return api && arguments[0].every(i => api.getRowNode(i));", iids))
    dash_duo.driver.execute_script(
        "const api = dash_ag_grid.getApi('jobs-grid');"
        "arguments[0].forEach(i => api.getRowNode(i).setSelected(true));", iids)


def set_store(dash_duo, cid: str, data) -> None:
    """Write a store from outside the run view, as the table or the URL does."""
    dash_duo.driver.execute_script(
        "dash_clientside.set_props(arguments[0], {data: arguments[1]});", cid, data)


def charts(dash_duo) -> dict[str, dict]:
    """The run view's charts: {title: {"runs": {legend name: points}, "xrange", "ytype",
    "legend_h", "plot_h"}}; a run's points are those of its first metric."""
    return dash_duo.driver.execute_script("""
        const out = {};
        document.querySelectorAll('#run-graphs .js-plotly-plot').forEach(g => {
            if (!g.data || !g._fullLayout || !g.layout.title) { return; }
            const runs = {};
            g.data.forEach(t => {
                if (t.showlegend !== false && t.legendgroup !== 'line-style' && t.x) {
                    runs[t.name] = t.x.filter(x => x !== null).length;
                }
            });
            // the legend's visible box (its group's box holds the rows scrolled away too)
            const legend = g.querySelector('.legend rect.bg');
            out[g.layout.title.text] = {
                runs: runs, xrange: g._fullLayout.xaxis.range,
                ytype: g._fullLayout.yaxis.type, autorange: g._fullLayout.xaxis.autorange,
                legend_h: legend ? legend.getBoundingClientRect().height : 0,
                plot_h: g._fullLayout._size.h, width: g.getBoundingClientRect().width};
        });
        return out;""")


def loss_runs(dash_duo) -> dict[str, int]:
    """The Loss chart's runs; none while a redraw has the chart half drawn."""
    return charts(dash_duo).get("Loss", {}).get("runs", {})


def compare_headers(dash_duo) -> list[str]:
    """The hyperparameter columns of the compare table (read at once: it is redrawn live)."""
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#run-compare table.compare:not(.compare-grouped)"
        " th.param')].map(th => th.innerText);")


def compare_rows(dash_duo) -> list[list[str]]:
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#run-compare table.compare:not(.compare-grouped)"
        " tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(td => td.innerText));")


def running_quadratic(store, steps=40, **hp):
    """A quadratic job claimed by a worker, no epoch yet: (iid, record(epoch))."""
    store.register_task(QUADRATIC)
    iid = store.create({"steps": steps, **hp}, schema=QUADRATIC)
    claim = store.claim("test-worker", tasks={QUADRATIC.name: QUADRATIC})
    assert claim.iid == iid

    def record(epoch):
        store.record_epoch(iid, claim.attempt, {"epoch": epoch, "time_training": 0.1 * epoch,
                                                "loss": 9.0 / epoch, "x": 3.0 / epoch},
                           goals=QUADRATIC.goals)
    return iid, claim, record


def mnist_run(store, accuracy=97.0, epochs=3, **hp) -> str:
    iid = store.create(HyperParams(num_epochs=epochs, **hp))
    claim = store.claim("test-worker")
    assert claim.iid == iid
    for n in range(1, epochs + 1):
        store.record_epoch(iid, claim.attempt, {
            "epoch": n, "train_loss": 1.0 / (n + accuracy / 100),
            "train_accuracy": accuracy - 3 + n, "test_loss": 1.2 / (n + accuracy / 100),
            "test_accuracy": accuracy - epochs + n, "time_training": 2.0 * n})
    store.finish(iid, claim.attempt, Status.DONE)
    return iid


# -- issue 10, item 1: a run submitted after the page opened ----------------------------
def test_a_run_submitted_after_the_page_opened_shows_its_points_as_it_runs(
        dash_duo, live_app, store):
    for _ in range(3):  # the selector's options at page load: these
        quadratic_run(store, {"steps": 2})
    open_dashboard(dash_duo, live_app)
    wait_for(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#jobs-grid .ag-row[row-id]"))
    iid, _, record = running_quadratic(store, lr=0.3)  # after the page opened
    record(1)
    tick_row(dash_duo, iid)
    got = wait_for(lambda: (lambda c: c.get("Loss", {}).get("runs") and c)(charts(dash_duo)))
    assert list(got["Loss"]["runs"].values()) == [1]
    # the selector holds the run, labelled with its status now
    dash_duo.wait_for_contains_text("#run-select", "running")
    for epoch in (2, 3):  # the worker goes on while the page is open
        record(epoch)
        wait_for(lambda: list(loss_runs(dash_duo).values()) == [epoch])
    # each chart draws on its own: the X chart may come a moment after the loss
    wait_for(lambda: list(charts(dash_duo).get("X", {}).get("runs", {}).values()) == [3])
    dash_duo.wait_for_contains_text("#run-details", "running")


def test_the_selectors_label_follows_the_runs_status(dash_duo, live_app, store):
    iid, claim, record = running_quadratic(store, steps=2)
    record(1)
    open_dashboard(dash_duo, live_app)
    tick_row(dash_duo, iid)
    dash_duo.wait_for_contains_text("#run-select", "· running")
    record(2)
    store.finish(iid, claim.attempt, Status.DONE)
    dash_duo.wait_for_contains_text("#run-select", "· done")
    assert "running" not in dash_duo.find_element("#run-select").text


# -- item 3: zoom across live refreshes -------------------------------------------------
def test_zoom_holds_over_two_refreshes_while_the_run_learns(dash_duo, live_app, store):
    iid, _, record = running_quadratic(store)
    for epoch in range(1, 6):
        record(epoch)
    open_dashboard(dash_duo, live_app)
    tick_row(dash_duo, iid)
    wait_for(lambda: list(charts(dash_duo).get("Loss", {}).get("runs", {}).values()) == [5])
    dash_duo.driver.execute_script("""
        const g = [...document.querySelectorAll('#run-graphs .js-plotly-plot')]
            .find(g => g.layout.title.text === 'Loss');
        Plotly.relayout(g, {'xaxis.range': [2, 3.5]});""")
    wait_for(lambda: charts(dash_duo).get("Loss", {}).get("xrange") == [2, 3.5])
    for epoch in (6, 7):  # two refreshes that each bring a new epoch (a redraw)
        record(epoch)
        wait_for(lambda: list(loss_runs(dash_duo).values()) == [epoch])
        time.sleep(REFRESH_S)
    loss = charts(dash_duo)["Loss"]
    assert loss["xrange"] == [2, 3.5] and loss["autorange"] is False
    assert charts(dash_duo)["X"]["autorange"] is True  # the other chart was not zoomed
    # other runs or other options: a new view, zoomed out again
    dash_duo.find_element("#chart-log input").click()
    wait_for(lambda: charts(dash_duo).get("Loss", {}).get("ytype") == "log")
    assert charts(dash_duo)["Loss"]["autorange"] is True


def test_a_run_hidden_from_the_legend_stays_hidden_while_it_learns(dash_duo, live_app, store):
    iid, _, record = running_quadratic(store)
    other = quadratic_run(store, {"lr": 0.2, "steps": 3}, worker="another-worker")
    record(1)
    open_dashboard(dash_duo, live_app)
    tick_row(dash_duo, iid)
    tick_row(dash_duo, other)
    wait_for(lambda: len(charts(dash_duo).get("Loss", {}).get("runs", {})) == 2)
    hidden = "lr 0.1 · steps 40"  # the running one, as its legend names it

    def visible():
        return dash_duo.driver.execute_script("""
            const g = [...document.querySelectorAll('#run-graphs .js-plotly-plot')]
                .find(g => g.layout.title.text === 'Loss');
            return g.data.filter(t => t.name === arguments[0] && t.showlegend !== false)
                .map(t => [t.visible === undefined ? true : t.visible, t.x.length])[0];""",
                                             hidden)

    def click_legend_entry():
        from selenium.common.exceptions import StaleElementReferenceException
        try:  # a live redraw may replace the legend between finding and clicking
            entry = [e for e in dash_duo.driver.find_elements(
                By.CSS_SELECTOR, "#run-graphs .js-plotly-plot .legend .traces")
                if e.text == hidden]
            if entry:
                entry[0].click()  # a click in the legend hides the run (in that chart)
            return bool(entry)
        except StaleElementReferenceException:
            return False

    wait_for(click_legend_entry)
    wait_for(lambda: (visible() or [None])[0] == "legendonly")
    for epoch in (2, 3):  # redraws with new points
        record(epoch)
        wait_for(lambda: (visible() or [None, None])[1] == epoch)
    time.sleep(REFRESH_S)
    assert visible() == ["legendonly", 3]


# -- item 4: more than 8 ticked runs -----------------------------------------------------
def test_nine_ticked_runs_are_all_shown(dash_duo, live_app, store):
    iids = [quadratic_run(store, {"lr": 0.01 * (n + 1), "steps": 3}) for n in range(9)]
    open_dashboard(dash_duo, live_app)
    for iid in iids:
        tick_row(dash_duo, iid)
    got = wait_for(lambda: (lambda c: len(c.get("Loss", {}).get("runs", {})) == 9 and c)(
        charts(dash_duo)))
    assert sorted(got["Loss"]["runs"]) == sorted(f"lr {0.01 * (n + 1):g}" for n in range(9))
    assert dash_duo.find_element("#run-note").text == ""
    assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#run-details details.run")) == 9


def test_past_twenty_runs_the_view_says_how_many_it_shows(dash_duo, live_app, store):
    iids = [quadratic_run(store, {"lr": round(0.01 * (n + 1), 2), "x0": float(n % 3),
                                  "steps": 3}) for n in range(23)]
    open_dashboard(dash_duo, live_app)
    tick_rows(dash_duo, iids)
    dash_duo.wait_for_text_to_equal(
        "#run-note", compare.shown_note(23, run_view.MAX_RUNS_SHOWN))
    got = wait_for(lambda: (lambda c: len(c.get("Loss", {}).get("runs", {})) == 20 and c)(
        charts(dash_duo)))
    for chart in got.values():  # 20 runs and the line-style key: the legend scrolls
        assert 0 < chart["legend_h"] <= chart["plot_h"] + 2, chart
    assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#run-details details.run")) == 20


# -- item 5: the empty state ---------------------------------------------------------------
def test_a_run_without_epochs_shows_no_axes_and_no_run_no_chart(dash_duo, live_app, store):
    iid, _, record = running_quadratic(store)
    open_dashboard(dash_duo, live_app)
    tick_row(dash_duo, iid)  # running, no epoch yet
    plots = wait_for(lambda: dash_duo.driver.find_elements(
        By.CSS_SELECTOR, "#run-graphs .js-plotly-plot .main-svg"))
    assert plots
    time.sleep(REFRESH_S)  # drawn: an empty plotly chart has axes from -1 to 6
    ticks = "#run-graphs .xtick, #run-graphs .ytick, #run-graphs .g-ytitle"
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ticks)
    dash_duo.wait_for_contains_text("#run-graphs", "No epoch recorded yet")
    record(1)  # the first epoch: axes and a point
    wait_for(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#run-graphs .xtick"))
    tick_row(dash_duo, iid)  # unticked: no chart at all, a line of text
    dash_duo.wait_for_contains_text("#run-graphs", "Tick runs in the table")
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#run-graphs .js-plotly-plot")


# -- item 7: the compare view --------------------------------------------------------------
def test_the_compare_view_shows_what_differs_and_groups_by_a_parameter(dash_duo, live_app,
                                                                        store):
    a = mnist_run(store, 97.0, epochs=3, learning_rate=0.01, seed=1, model="mlp")
    b = mnist_run(store, 98.0, epochs=3, learning_rate=0.01, seed=2, model="mlp")
    c = mnist_run(store, 95.0, epochs=4, learning_rate=0.1, seed=1, model="mlp")
    open_dashboard(dash_duo, live_app)
    for iid in (a, b, c):
        tick_row(dash_duo, iid)
    wait_for(lambda: len(dash_duo.driver.find_elements(
        By.CSS_SELECTOR, "#run-compare table.compare tbody tr")) == 3)
    # exactly the hyperparameters that differ, seed and epochs included
    assert compare_headers(dash_duo) == ["learning rate", "num epochs", "seed"]
    rows = compare_rows(dash_duo)
    # per run: its parameters, test accuracy final and best, ..., the best epoch
    assert sorted((r[2:5], r[5:7], r[7]) for r in rows) == [
        (["0.01", "3", "1"], ["97", "97"], "3"), (["0.01", "3", "2"], ["98", "98"], "3"),
        (["0.1", "4", "1"], ["95", "95"], "4")]
    bold = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#run-compare td.best')].map(td => td.innerText);")
    assert "98" in bold
    # the legends name only what differs, one entry per run
    got = wait_for(lambda: (lambda c_: len(c_.get("Accuracy", {}).get("runs", {})) == 3 and c_)(
        charts(dash_duo)))
    assert sorted(got["Accuracy"]["runs"]) == sorted([
        "learning_rate 0.01 · num_epochs 3 · seed 1",
        "learning_rate 0.01 · num_epochs 3 · seed 2",
        "learning_rate 0.1 · num_epochs 4 · seed 1"])
    assert got["Loss"]["width"] >= 560  # big enough at 1280x800
    # the toggle: every hyperparameter
    dash_duo.find_element("#chart-all-params input").click()
    every = [views.header_name(n) for n in MNIST.params]  # the task's order
    assert len(every) >= 8
    wait_for(lambda: compare_headers(dash_duo) == every)
    # grouped by learning rate: a line per value, the run count in the legend, a table
    dash_duo.find_element("#chart-group").click()
    option = wait_for(lambda: [o for o in dash_duo.driver.find_elements(
        By.CSS_SELECTOR, ".dash-dropdown-option") if o.text.strip() == "learning rate"])
    option[0].click()
    got = wait_for(lambda: (lambda c_: "learning_rate 0.1 (1 run)" in c_.get(
        "Accuracy", {}).get("runs", {}) and c_)(charts(dash_duo)))
    assert sorted(got["Accuracy"]["runs"]) == ["learning_rate 0.01 (2 runs)",
                                               "learning_rate 0.1 (1 run)"]
    grouped = dash_duo.find_element("#run-compare table.compare-grouped").text
    assert "97.5 ± 0.5" in grouped  # the two runs of 0.01: final test accuracy 97 and 98


def test_the_toggles_follow_the_chart_options_written_from_outside(dash_duo, live_app, store):
    a = quadratic_run(store, {"lr": 0.1, "steps": 3})
    b = quadratic_run(store, {"lr": 0.2, "steps": 3})
    open_dashboard(dash_duo, live_app)
    tick_row(dash_duo, a)
    tick_row(dash_duo, b)
    wait_for(lambda: len(charts(dash_duo).get("Loss", {}).get("runs", {})) == 2)
    # what "dash" does with a URL: write the store
    set_store(dash_duo, run_view.CHART_OPTIONS, {"log": True, "group": "lr",
                                                 "all_params": True})
    wait_for(lambda: dash_duo.find_element("#chart-log input").is_selected())
    assert dash_duo.find_element("#chart-all-params input").is_selected()
    dash_duo.wait_for_contains_text("#chart-group", "lr")
    got = wait_for(lambda: (lambda c: c.get("Loss", {}).get("ytype") == "log" and c)(
        charts(dash_duo)))
    assert sorted(got["Loss"]["runs"]) == ["lr 0.1 (1 run)", "lr 0.2 (1 run)"]
    assert got["X"]["ytype"] == "linear"  # x goes up: no log
    assert compare_headers(dash_duo) == list(QUADRATIC.params)
    # and the toggles write it back
    dash_duo.find_element("#chart-log input").click()
    wait_for(lambda: charts(dash_duo).get("Loss", {}).get("ytype") == "linear")


# -- the callbacks, posted to as any page could ---------------------------------------------
def post(client, body):
    return client.post(CALLBACK_PATH, data=json.dumps(body), content_type="application/json")


def test_ticks_set_the_selectors_value_and_options_together(app, client, store):
    iids = [quadratic_run(store, {"lr": 0.1 * (n + 1), "steps": 2}) for n in range(3)]
    key = find_callback(app, "run-select.options")
    r = post(client, callback_body(app, key, {f"{run_view.TICKED}.data": iids[1:],
                                              "run-select.value": [], "run-select.options": []},
                                   [f"{run_view.TICKED}.data"]))
    answer = r.json["response"]["run-select"]
    assert answer["value"] == iids[1:]
    assert [o["value"] for o in answer["options"]] == iids[1:]
    assert all(o["label"].endswith("· done") for o in answer["options"])
    # nonsense from the page: nothing changes
    for ticked in (["x"], "all", [5], [iids[0]] * 101):
        r = post(client, callback_body(app, key, {f"{run_view.TICKED}.data": ticked},
                                       [f"{run_view.TICKED}.data"]))
        assert r.status_code == 204, ticked


def test_the_run_view_redraws_only_when_something_changed(app, client, store):
    iid, claim, record = running_quadratic(store)
    record(1)
    key = find_callback(app, "run-graphs.children")

    def view(signature=None, options=None):
        body = callback_body(app, key, {"run-select.value": [iid], "run-signature.data": signature,
                                        f"{run_view.CHART_OPTIONS}.data": options},
                             ["tick.n_intervals"])
        return post(client, body)

    first = view()
    signature = first.json["response"]["run-signature"]["data"]
    assert post(client, callback_body(app, key, {"run-select.value": [iid],
                                                 "run-signature.data": signature},
                                      ["tick.n_intervals"])).status_code == 204
    record(2)
    again = view(signature)
    assert again.status_code == 200 and "run-graphs" in again.json["response"]
    assert view(signature, {"log": True}).status_code == 200  # an option changed
    r = view(None, {"log": "yes", "group": ["x"], "extra": 1})  # nonsense: the defaults
    assert r.status_code == 200


def test_twenty_one_runs_draw_twenty_and_say_so(app, client, store):
    iids = [quadratic_run(store, {"lr": round(0.01 * (n + 1), 2), "steps": 2})
            for n in range(21)]
    key = find_callback(app, "run-graphs.children")
    r = post(client, callback_body(app, key, {"run-select.value": iids}, ["run-select.value"]))
    answer = r.json["response"]
    assert answer["run-note"]["children"] == compare.shown_note(21, 20)
    loss = next(g for g in answer["run-graphs"]["children"]
                if g["props"]["id"]["key"] == "quadratic/loss")
    assert len([t for t in loss["props"]["figure"]["data"] if t.get("showlegend")]) == 20
