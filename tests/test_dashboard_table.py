"""The experiments table in a real browser (chromium through dash_duo): the
selection stays true to what the table shows, the header agrees with the
table, the empty table, flagged runs, metric filters, "all matching", the
column chooser and the view in the URL (issue 10, items 2, 5, 6, 8 and 9)."""
from __future__ import annotations

import time

from selenium.webdriver.common.action_chains import ActionChains

from helpers import wait_for
from mltrack import dashboard
from mltrack.params import HyperParams
from mltrack.store import Status
from test_dashboard import (_alert, choose, finished_job, grid_rows, open_dashboard, param,
                            select_row, shown_columns, toggle_column, type_into)


def button_enabled(dash_duo, name: str) -> bool:
    return dash_duo.find_element(f"#action-{name}").is_enabled()


def confirm(dash_duo, button: str) -> str:
    """Click an action button; return its confirmation's text, accepted."""
    dash_duo.find_element(f"#action-{button}").click()
    alert = wait_for(lambda: _alert(dash_duo))
    text = alert.text
    alert.accept()
    return text


def text_of(dash_duo, selector: str) -> str:
    return dash_duo.driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
        selector)


def stop_live_refresh(dash_duo):
    """Stop the 1.5 s tick, so that only the page's own changes refresh it."""
    dash_duo.driver.execute_script(
        "window.dash_clientside.set_props('tick', {disabled: true});")


def finish(store, iid: str, status: Status = Status.DONE, **fields):
    claim = store.claim("test-worker")
    assert claim.iid == iid
    store.finish(iid, claim.attempt, status, **fields)


# -- item 2: the selection, the buttons and the count match the table ------------------
def test_a_job_ticked_while_waiting_that_then_finishes_disables_cancel(dash_duo, live_app,
                                                                         store):
    iid = store.create(HyperParams(model="mlp", num_epochs=1))
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, iid)
    wait_for(lambda: button_enabled(dash_duo, "cancel"))
    assert not button_enabled(dash_duo, "delete")
    finish(store, iid)  # it runs and finishes while ticked
    wait_for(lambda: not button_enabled(dash_duo, "cancel"))
    assert button_enabled(dash_duo, "delete") and button_enabled(dash_duo, "clone")
    assert not button_enabled(dash_duo, "retry")
    assert text_of(dash_duo, "#ticked-count") == "1 ticked"


def test_deleting_a_ticked_run_leaves_the_selection_true(dash_duo, live_app, store):
    gone = finished_job(store, 97.0, 10.0, epochs=1, model="mlp")
    kept = finished_job(store, 98.0, 10.0, epochs=1, model="cnn")
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, gone)
    wait_for(lambda: button_enabled(dash_duo, "delete"))
    assert confirm(dash_duo, "delete").startswith("Delete 1 finished job ")
    wait_for(lambda: [r["row-id"] for r in grid_rows(dash_duo)] == [kept])
    select_row(dash_duo, kept)
    # one tick shown, one counted: Clone takes it, Delete asks for one
    wait_for(lambda: button_enabled(dash_duo, "clone"))
    dash_duo.wait_for_text_to_equal("#ticked-count", "1 ticked")
    assert confirm(dash_duo, "delete").startswith("Delete 1 finished job ")
    wait_for(lambda: store.counts()["total"] == 0)


def test_a_ticked_row_a_filter_hides_is_not_acted_on(dash_duo, live_app, store):
    shown = store.create(HyperParams(model="mlp"))
    hidden = store.create(HyperParams(model="cnn"))
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, shown)
    select_row(dash_duo, hidden)
    wait_for(lambda: button_enabled(dash_duo, "cancel"))
    dash_duo.find_element("#text-filter").send_keys("mlp")
    wait_for(lambda: [r["row-id"] for r in grid_rows(dash_duo)] == [shown])
    time.sleep(dashboard.REFRESH_MS / 1000)  # a refresh: the hidden tick is dropped
    # (a busy machine may take longer than one tick: wait until the page counts one)
    dash_duo.wait_for_text_to_equal("#ticked-count", "1 ticked")
    text = confirm(dash_duo, "cancel")
    assert text.startswith("Cancel 1 job?"), text
    wait_for(lambda: store.get(shown).status is Status.CANCELLED)
    dash_duo.wait_for_contains_text("#action-result", "Cancelled 1 job.")
    assert store.get(hidden).status is Status.WAITING
    dash_duo.wait_for_text_to_equal("#ticked-count", "1 ticked")


# -- item 6: the header agrees with the table; cancelled counted; runs that went wrong ---
def test_the_header_counts_change_with_the_table_not_a_refresh_later(dash_duo, live_app,
                                                                      store):
    open_dashboard(dash_duo, live_app)
    dash_duo.wait_for_text_to_equal("#count-waiting", "0 waiting")
    stop_live_refresh(dash_duo)  # only the submit and the cancel refresh the page now
    type_into(dash_duo, param("mnist", "seed"), "1, 2, 3, 4, 5, 6")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 6 jobs")
    dash_duo.find_element("#submit").click()
    wait_for(lambda: len(grid_rows(dash_duo)) == 6)
    dash_duo.wait_for_text_to_equal("#count-waiting", "6 waiting")
    dash_duo.wait_for_text_to_equal("#match-count", "6 matching")
    iid = grid_rows(dash_duo)[0]["row-id"]
    select_row(dash_duo, iid)
    wait_for(lambda: button_enabled(dash_duo, "cancel"))
    confirm(dash_duo, "cancel")
    wait_for(lambda: [r["status"].lower() for r in grid_rows(dash_duo)][:1] == ["cancelled"])
    dash_duo.wait_for_text_to_equal("#count-waiting", "5 waiting")
    dash_duo.wait_for_text_to_equal("#count-cancelled", "1 cancelled")


def hover_tooltip(dash_duo, iid: str) -> str:
    cell = dash_duo.find_element(f"#jobs-grid .ag-row[row-id='{iid}'] .ag-cell[col-id='status']")
    ActionChains(dash_duo.driver).move_to_element(cell).perform()
    return wait_for(lambda: text_of(dash_duo, ".ag-tooltip"))


def test_a_run_that_collapsed_and_a_failed_run_stand_out(dash_duo, live_app, store):
    fine = finished_job(store, 97.0, 10.0, epochs=3)
    collapsed = store.create(HyperParams(num_epochs=3, learning_rate=5.0, optimizer="sgd"))
    claim = store.claim("w")
    for n, acc in enumerate((96.5, 97.0, 10.0), start=1):  # learnt, then diverged
        store.record_epoch(collapsed, claim.attempt, {
            "epoch": n, "train_loss": 0.1, "train_accuracy": acc, "test_loss": 0.1,
            "test_accuracy": acc, "time_training": float(n)})
    store.finish(collapsed, claim.attempt, Status.DONE)
    failed = store.create(HyperParams())
    finish(store, failed, Status.FAILED, error="RuntimeError: CUDA out of memory")
    never = store.create(HyperParams(num_epochs=2, learning_rate=3.0, optimizer="sgd"))
    claim = store.claim("w2")
    for n in (1, 2):  # at chance from the start: its best is its last
        store.record_epoch(never, claim.attempt, {
            "epoch": n, "train_loss": 2.3, "train_accuracy": 10.0, "test_loss": 2.3,
            "test_accuracy": 10.0, "time_training": float(n)})
    store.finish(never, claim.attempt, Status.DONE)
    open_dashboard(dash_duo, live_app)
    rows = wait_for(lambda: (lambda r: len(r) == 4 and {x["row-id"]: x for x in r})(
        grid_rows(dash_duo)))
    assert rows[fine]["status"].lower() == "done"
    assert rows[collapsed]["status"].lower() == "done ⚠"
    assert rows[never]["status"].lower() == "done ⚠"
    tip = hover_tooltip(dash_duo, collapsed)
    assert "ended at 10 test accuracy" in tip and "best was 97" in tip, tip
    dash_duo.find_element(".brand").click()
    wait_for(lambda: not text_of(dash_duo, ".ag-tooltip"))
    tip = hover_tooltip(dash_duo, never)
    assert "far behind the best run of its task (97)" in tip, tip
    dash_duo.find_element(".brand").click()
    wait_for(lambda: not text_of(dash_duo, ".ag-tooltip"))
    assert "CUDA out of memory" in hover_tooltip(dash_duo, failed)


# -- item 5: the empty table --------------------------------------------------------------
def test_the_empty_table_says_so_and_the_page_logs_no_error(dash_duo, live_app, store):
    grid = next(c for c in dashboard.layout(store)._traverse()
                if getattr(c, "id", None) == "jobs-grid")
    configured = grid.dashGridOptions["localeText"]["noRowsToShow"]
    open_dashboard(dash_duo, live_app)
    dash_duo.wait_for_text_to_equal("#jobs-grid .ag-overlay-no-rows-center", configured)
    time.sleep(2 * dashboard.REFRESH_MS / 1000)  # two live refreshes
    assert dash_duo.get_logs() == []


# -- item 9: the view in the URL -----------------------------------------------------------
def page_query(dash_duo) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit
    return dict(parse_qsl(urlsplit(dash_duo.driver.current_url).query))


def ticked_ids(dash_duo) -> set[str]:
    return set(dash_duo.driver.execute_script("""
        return [...document.querySelectorAll('#jobs-grid .ag-row')]
            .filter(r => r.querySelector('.ag-selection-checkbox input:checked'))
            .map(r => r.getAttribute('row-id'));"""))


def test_a_reload_restores_sort_filter_and_ticked_runs_from_the_url(dash_duo, live_app, store):
    accuracies = [97.5, 91.0, 99.1, 95.2]
    iids = [finished_job(store, acc, 10.0, epochs=1, model="mlp") for acc in accuracies]
    store.create(HyperParams(model="mlp"))  # waiting: the status filter hides it
    by_accuracy = [i for _, i in sorted(zip(accuracies, iids), reverse=True)]
    open_dashboard(dash_duo, live_app)
    wait_for(lambda: len(grid_rows(dash_duo)) == 5)
    choose(dash_duo, "#status-filter", "done")
    dash_duo.find_element(
        "#jobs-grid .ag-header-cell[col-id='test_accuracy'] .ag-header-cell-label").click()
    wait_for(lambda: [r["row-id"] for r in grid_rows(dash_duo)] == by_accuracy)
    ticked = by_accuracy[1:3]
    for iid in ticked:
        select_row(dash_duo, iid)
    expected = {"status": "done", "sort": "test_accuracy", "order": "desc",
                "ticked": ",".join(ticked)}
    wait_for(lambda: page_query(dash_duo) == expected)
    dash_duo.find_element("#where-filter").send_keys("test accuracy > 92")
    wait_for(lambda: [r["row-id"] for r in grid_rows(dash_duo)] == by_accuracy[:3])
    dash_duo.wait_for_text_to_equal("#ticked-count", "2 ticked")
    expected["where"] = "test accuracy > 92"
    wait_for(lambda: page_query(dash_duo) == expected)

    dash_duo.driver.refresh()  # a reload, or the link opened by a colleague
    dash_duo.wait_for_element("#jobs-grid")
    wait_for(lambda: [r["row-id"] for r in grid_rows(dash_duo)] == by_accuracy[:3])
    dash_duo.wait_for_text_to_equal("#ticked-count", "2 ticked")
    wait_for(lambda: ticked_ids(dash_duo) == set(ticked))
    assert dash_duo.find_element("#status-filter").text.strip().startswith("done")
    assert dash_duo.find_element("#where-filter").get_attribute("value") == "test accuracy > 92"
    sort = dash_duo.find_element("#jobs-grid .ag-header-cell[col-id='test_accuracy']")
    assert sort.get_attribute("aria-sort") == "descending"
    assert page_query(dash_duo) == expected


def test_chart_options_go_in_the_url_and_come_back_from_it(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    dash_duo.find_element("#chart-log input[value='log']").click()
    wait_for(lambda: page_query(dash_duo).get("chart_log") == "1")
    dash_duo.driver.get(live_app + "/?chart_log=0")
    dash_duo.wait_for_element("#jobs-grid")
    wait_for(lambda: not dash_duo.find_element("#chart-log input[value='log']").is_selected())
    dash_duo.driver.get(live_app + "/?chart_log=1&status=nonsense&ticked=x")
    dash_duo.wait_for_element("#jobs-grid")
    wait_for(lambda: dash_duo.find_element("#chart-log input[value='log']").is_selected())
    # the page rewrites its URL after it applied it: wait for that, the nonsense left out
    wait_for(lambda: page_query(dash_duo) == {"chart_log": "1"})


# -- item 8: the table for sweep work ------------------------------------------------------
def horizontal_overflow(dash_duo) -> int:
    """How many pixels of columns lie beyond the grid's right edge."""
    return dash_duo.driver.execute_script("""
        const v = document.querySelector('#jobs-grid .ag-center-cols-viewport');
        const c = document.querySelector('#jobs-grid .ag-center-cols-container');
        return Math.max(0, c.scrollWidth - v.clientWidth);""")


def test_the_columns_that_matter_fit_at_1280_px_and_the_choice_outlives_a_reload(
        dash_duo, live_app, store):
    finished_job(store, 97.0, 10.0, epochs=1, model="mlp")
    open_dashboard(dash_duo, live_app)
    wait_for(lambda: grid_rows(dash_duo))
    wait_for(lambda: "seed" not in shown_columns(dash_duo) and "optimizer" in shown_columns(
        dash_duo))
    shown = [c for c in shown_columns(dash_duo) if not c.startswith("ag-Grid")]
    assert shown[:3] == ["status", "test_accuracy", "best_test_accuracy"], shown
    assert {"progress", "optimizer", "learning_rate"} <= set(shown)
    assert horizontal_overflow(dash_duo) == 0
    toggle_column(dash_duo, "seed")
    toggle_column(dash_duo, "progress")
    wait_for(lambda: "seed" in shown_columns(dash_duo)
             and "progress" not in shown_columns(dash_duo))
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#jobs-grid")
    wait_for(lambda: grid_rows(dash_duo))
    wait_for(lambda: "seed" in shown_columns(dash_duo)
             and "progress" not in shown_columns(dash_duo))
    wait_for(lambda: "seed" in {c for r in grid_rows(dash_duo)[:1] for c in r})


def test_a_metric_filter_counts_its_rows(dash_duo, live_app, store):
    accuracies = {finished_job(store, acc, 10.0, epochs=1, model="mlp"): acc
                  for acc in (97.5, 91.0, 99.1, 95.2)}
    open_dashboard(dash_duo, live_app)
    dash_duo.wait_for_text_to_equal("#match-count", "4 matching")
    dash_duo.find_element("#where-filter").send_keys("test accuracy > 97")
    above = {i for i, a in accuracies.items() if a > 97}
    wait_for(lambda: {r["row-id"] for r in grid_rows(dash_duo)} == above)
    dash_duo.wait_for_text_to_equal("#match-count", "2 matching")
    type_into(dash_duo, "#where-filter", "accuracy > 97")  # no such column: said so
    dash_duo.wait_for_contains_text("#where-error", "no column “accuracy”")


def test_all_matching_acts_on_every_row_the_filters_keep(dash_duo, live_app, store):
    mlp = [store.create(HyperParams(model="mlp", seed=n)) for n in range(3)]
    cnn = [store.create(HyperParams(model="cnn", seed=n)) for n in range(2)]
    failed = store.create(HyperParams(model="mlp", seed=9))
    claim = store.claim("w")
    assert claim.iid == mlp[0]  # the oldest first
    store.finish(mlp[0], claim.attempt, Status.FAILED, error="boom")
    open_dashboard(dash_duo, live_app)
    dash_duo.find_element("#text-filter").send_keys("mlp")
    dash_duo.wait_for_text_to_equal("#match-count", "4 matching")
    dash_duo.find_element("#all-matching input").click()
    dash_duo.wait_for_text_to_equal("#ticked-count", "acting on all 4 matching jobs")
    wait_for(lambda: button_enabled(dash_duo, "cancel"))
    assert not button_enabled(dash_duo, "clone")
    text = confirm(dash_duo, "cancel")
    assert text.startswith("Cancel 3 jobs of the 4 matching"), text
    wait_for(lambda: all(store.get(i).status is Status.CANCELLED for i in (*mlp[1:], failed)))
    assert all(store.get(i).status is Status.WAITING for i in cnn)
    dash_duo.wait_for_contains_text("#action-result", "Cancelled 3 jobs.")
    text = confirm(dash_duo, "retry")
    assert text.startswith("Queue 4 jobs of the 4 matching again"), text
    dash_duo.wait_for_contains_text("#action-result", "Queued again 4 jobs.")
    assert store.counts()["waiting"] == 2 + 4


def test_retry_and_clone_are_off_for_a_script_run_and_a_retry_says_why(dash_duo, live_app,
                                                                        store, client):
    # review item 14: Retry offered a tracked run, then said "their status changed
    # meanwhile"; Clone on it did nothing at all
    from test_dashboard import tracked_run

    script = tracked_run(client)
    queued = store.create(HyperParams(model="mlp", num_epochs=1))
    store.cancel(queued)
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, script)
    dash_duo.wait_for_text_to_equal("#ticked-count", "1 ticked")
    wait_for(lambda: button_enabled(dash_duo, "delete"))
    assert not button_enabled(dash_duo, "retry") and not button_enabled(dash_duo, "clone")
    title = dash_duo.find_element("#action-clone").get_attribute("title")
    assert "tracked from scripts" in title, title
    assert "run again by their script" in dash_duo.find_element(
        "#action-retry").get_attribute("title")
    select_row(dash_duo, queued)
    wait_for(lambda: button_enabled(dash_duo, "retry"))
    dash_duo.find_element("#action-retry").click()
    dash_duo.wait_for_text_to_equal(
        "#action-result",
        "Queued again 1 job; 1 skipped: script runs are run again by their script.")
    assert store.counts()["waiting"] == 1 and store.get(script).status is Status.FAILED


def test_live_order_pauses_while_the_user_works_in_a_sorted_table(dash_duo, live_app, store):
    leader = finished_job(store, 95.0, 10.0, epochs=1, model="cnn")
    climber = store.create(HyperParams(model="mlp", num_epochs=3))
    claim = store.claim("w")

    def epoch(n, acc):
        store.record_epoch(climber, claim.attempt, {
            "epoch": n, "train_loss": 0.1, "train_accuracy": acc, "test_loss": 0.1,
            "test_accuracy": acc, "time_training": float(n)})

    epoch(1, 90.0)
    open_dashboard(dash_duo, live_app)
    dash_duo.find_element(
        "#jobs-grid .ag-header-cell[col-id='test_accuracy'] .ag-header-cell-label").click()

    def order():
        return [r["row-id"] for r in grid_rows(dash_duo)]

    wait_for(lambda: order() == [leader, climber])
    # the user keeps moving in the table: rows do not move under the pointer
    dash_duo.driver.execute_script("""
        window._busy = setInterval(() => document.querySelector('#jobs-grid .ag-row')
            .dispatchEvent(new MouseEvent('mousemove', {bubbles: true})), 200);""")
    time.sleep(0.5)
    epoch(2, 99.0)
    dash_duo.wait_for_contains_text("#live-note", "live order paused")
    time.sleep(3 * dashboard.REFRESH_MS / 1000)  # three ticks while working
    assert order() == [leader, climber]
    dash_duo.driver.execute_script("clearInterval(window._busy);")  # the user stops
    wait_for(lambda: order() == [climber, leader])
    dash_duo.wait_for_text_to_equal("#live-note", "")
