"""The dashboard in a real browser (Debian's chromium, through dash_duo), and its
callbacks posted to directly, as any page could."""
from __future__ import annotations

import json
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dash_requests import (CALLBACK_PATH, callback_body, find_callback, id_key,
                           server_callbacks)
from helpers import wait_for
from mltrack import form, views
from mltrack.params import MNIST, HyperParams
from mltrack.store import Status
from sample_tasks import QUADRATIC, final_loss, quadratic_run

# the clone's callback (the fast preset's writes form-fill.data too, as a duplicate output)
CLONE = "form-fill.data.."
DOCS = None  # set DOCS to a folder to save screenshots while the tests run
SCHEMAS = {"mnist": MNIST, "quadratic": QUADRATIC}


def finished_job(store, accuracy: float, runtime: float, epochs: int = 3, **hp) -> str:
    """An MNIST job taken through claim, epochs and done, as a worker would record it."""
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


def param_id(task: str, field: str) -> dict[str, str]:
    """The id of the form's widget for `field` of `task`."""
    return {"type": "param", "task": task, "field": field,
            "kind": form.widget(SCHEMAS[task].params[field])}


def param(task: str, field: str) -> str:
    """A CSS selector of that widget (Dash writes dict ids as sorted JSON)."""
    return f"[id='{id_key(param_id(task, field))}']"


def slider(task: str, field: str) -> str:
    cid = {"type": "param-slider", "task": task, "field": field}
    return f"[id='{id_key(cid)}']"


def field_box(task: str, field: str) -> str:
    cid = {"type": "param-field", "task": task, "field": field}
    return f"[id='{id_key(cid)}']"


def field_error(field: str) -> str:
    return f"[id='{id_key({'type': 'field-error', 'field': field})}']"


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


def grid_columns(dash_duo) -> list[str]:
    """The grid's columns in order, those the column chooser hides included."""
    return dash_duo.driver.execute_script(
        "return dash_ag_grid.getApi('jobs-grid').getColumns().map(c => c.getColId());")


def shown_columns(dash_duo) -> list[str]:
    """The columns whose headers are on the page."""
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#jobs-grid .ag-header-cell')]"
        ".map(c => c.getAttribute('col-id')).filter(c => c);")


def toggle_column(dash_duo, field: str):
    """Show or hide a column with the column chooser."""
    if not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".column-chooser[open]"):
        dash_duo.find_element(".column-chooser summary").click()
    dash_duo.find_element(f"#column-chooser input[value='{field}']").click()
    dash_duo.find_element(".column-chooser summary").click()  # closed again


def open_dashboard(dash_duo, url):
    dash_duo.driver.set_window_size(1280, 800)
    dash_duo.server_url = url
    dash_duo.wait_for_element("#jobs-grid")


def in_view(dash_duo, element):
    """Scroll the form (not the page) so that `element` sits in its middle, as a user
    scrolls to a field: not under the form's sticky submit."""
    dash_duo.driver.execute_script("""
        const e = arguments[0], card = e.closest('.form-card');
        if (!card) { return; }
        const r = e.getBoundingClientRect(), c = card.getBoundingClientRect();
        card.scrollTop += (r.top + r.bottom) / 2 - (c.top + c.bottom) / 2;""", element)
    return element


def choose(dash_duo, selector: str, *texts: str):
    """Click the options `texts` of a dropdown (a multi-select toggles each), then close it."""
    in_view(dash_duo, dash_duo.find_element(selector)).click()
    for text in texts:
        menu = dash_duo.wait_for_element(".dash-dropdown-options")
        options = [o for o in menu.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")
                   if o.text.strip() == text]
        assert options, f"no option {text!r} in {selector}: {menu.text!r}"
        options[0].click()
    if dash_duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-options"):
        dash_duo.find_element(".brand").click()  # close the menu
    wait_for(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR,
                                                        ".dash-dropdown-options"))


def value(dash_duo, selector: str):
    """A widget's value now (read in the page: the form may be rebuilt meanwhile)."""
    return dash_duo.driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.value : null;", selector)


def type_into(dash_duo, selector: str, text: str):
    box = in_view(dash_duo, dash_duo.find_element(selector))
    dash_duo.clear_input(box)
    box.send_keys(text)


def click_when_there(dash_duo, selector: str) -> None:
    """Click the first element `selector` finds once there is one; found again if the
    live refresh redrew it between finding and clicking (a stale element)."""
    from selenium.common.exceptions import StaleElementReferenceException

    def click():
        found = dash_duo.driver.find_elements(By.CSS_SELECTOR, selector)
        if not found:
            return False
        try:
            found[0].click()
        except StaleElementReferenceException:
            return False
        return True

    wait_for(click)


def select_row(dash_duo, iid):
    click_when_there(dash_duo, f"#jobs-grid .ag-row[row-id='{iid}'] .ag-selection-checkbox input")


def chart_traces(dash_duo) -> dict[str, list[tuple[str, int]]]:
    """The run view's charts: {title: [(legend entry, points)]}, one entry per run
    (its first metric's points), the line-style key left out."""
    return dash_duo.driver.execute_script("""
        const out = {};
        document.querySelectorAll('#run-graphs .js-plotly-plot').forEach(g => {
            if (!g.data || !g.layout || !g.layout.title) { return; }
            out[g.layout.title.text] = g.data.filter(
                t => t.showlegend !== false && t.legendgroup !== 'line-style')
                .map(t => [t.name, t.x.length]);
        });
        return out;""")


def line_style_key(dash_duo, title: str) -> list[str]:
    """The grey legend entries naming each metric's line style in chart `title`."""
    return dash_duo.driver.execute_script("""
        const g = [...document.querySelectorAll('#run-graphs .js-plotly-plot')]
            .find(g => g.layout && g.layout.title && g.layout.title.text === arguments[0]);
        return g.data.filter(t => t.legendgroup === 'line-style').map(t => t.name);""", title)


# -- MNIST, the built-in task, through the generated form -----------------------------------
def test_submit_a_job_through_the_form_and_see_it_in_the_table(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    dash_duo.find_element(param("mnist", "num_epochs")).send_keys(Keys.BACKSPACE, "2")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 mnist job.")
    job = wait_for(lambda: store.list_jobs().jobs)[0]
    assert job.hyper_params["num_epochs"] == 2 and job.status is Status.WAITING
    assert job.task == "mnist"
    rows = wait_for(lambda: grid_rows(dash_duo))
    assert rows[0]["row-id"] == job.iid and rows[0]["status"].lower() == "waiting"
    toggle_column(dash_duo, "epochs")  # among the columns the chooser keeps at first
    # (a grid that re-renders has no rows for a moment)
    wait_for(lambda: [r.get("epochs") for r in grid_rows(dash_duo)][:1] == ["0/2"])
    dash_duo.wait_for_contains_text("#count-waiting", "1")


def test_a_sweep_shows_its_size_and_goes_in_as_one_batch(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    type_into(dash_duo, param("mnist", "learning_rate"), "0.1, 0.01, 0.001")
    choose(dash_duo, param("mnist", "optimizer"), "sgd")
    dash_duo.wait_for_contains_text("#sweep-preview", "This will queue 6 jobs")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 6 jobs")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 6 mnist jobs.")
    jobs = store.list_jobs().jobs
    assert len(jobs) == 6
    assert {(j.hyper_params["optimizer"], j.hyper_params["learning_rate"]) for j in jobs} == {
        (o, lr) for o in ("adam", "sgd") for lr in (0.1, 0.01, 0.001)}
    assert len({j.created for j in jobs}) == 1  # one batch, one moment


def test_a_bad_learning_rate_is_explained_next_to_the_field(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    type_into(dash_duo, param("mnist", "learning_rate"), "20")
    dash_duo.wait_for_contains_text(field_error("learning_rate"),
                                    "learning rate must be above 0 and at most 10, not 20")
    assert dash_duo.find_element("#submit").get_attribute("disabled") == "true"
    type_into(dash_duo, param("mnist", "learning_rate"), "fast")
    dash_duo.wait_for_contains_text(field_error("learning_rate"), "not a number")
    assert store.counts()["total"] == 0


def test_momentum_is_off_until_an_optimizer_that_has_it_is_picked(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    box = dash_duo.find_element(field_box("mnist", "momentum"))
    wait_for(lambda: "field-off" in box.get_attribute("class"))
    assert "only when optimizer is sgd or rmsprop" in box.text
    choose(dash_duo, param("mnist", "optimizer"), "sgd", "adam")  # sgd on, adam off
    wait_for(lambda: "field-off" not in box.get_attribute("class"))
    type_into(dash_duo, param("mnist", "momentum"), "0.9")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 mnist job.")
    hp = store.list_jobs().jobs[0].hyper_params
    assert (hp["optimizer"], hp["momentum"]) == ("sgd", 0.9)


def test_sort_by_test_accuracy_and_by_run_time(dash_duo, live_app, store):
    accuracies = [97.5, 91.0, 99.1, 95.2, 93.3]
    runtimes = [30.0, 5.0, 60.0, 12.0, 45.0]
    iids = [finished_job(store, acc, rt, model="mlp") for acc, rt in zip(accuracies, runtimes)]
    open_dashboard(dash_duo, live_app)
    wait_for(lambda: len(grid_rows(dash_duo)) == 5)
    header = "#jobs-grid .ag-header-cell[col-id='{}'] .ag-header-cell-label"

    def order():
        return [r["row-id"] for r in grid_rows(dash_duo)]

    by_accuracy = [iid for _, iid in sorted(zip(accuracies, iids), reverse=True)]
    dash_duo.find_element(header.format("test_accuracy")).click()  # best (highest) first
    wait_for(lambda: order() == by_accuracy)
    assert [r["test_accuracy"] for r in grid_rows(dash_duo)] == [
        f"{a:g}" for a in sorted(accuracies, reverse=True)]
    dash_duo.find_element(header.format("test_accuracy")).click()
    wait_for(lambda: order() == by_accuracy[::-1])
    toggle_column(dash_duo, "runtime")  # not among the columns shown at first
    dash_duo.find_element(header.format("runtime")).click()  # shortest first
    by_runtime = [iid for _, iid in sorted(zip(runtimes, iids))]
    wait_for(lambda: order() == by_runtime)
    assert [r["runtime"] for r in grid_rows(dash_duo)] == [
        views.duration(r) for r in sorted(runtimes)]
    # the sort survives live refreshes
    time.sleep(3.5)
    assert order() == by_runtime


def test_open_runs_and_see_both_charts_with_every_epoch(dash_duo, live_app, store):
    first = finished_job(store, 97.0, 20.0, epochs=4, model="mlp")
    second = finished_job(store, 98.5, 40.0, epochs=2, model="cnn", learning_rate=0.01)
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, first)
    select_row(dash_duo, second)
    charts = wait_for(lambda: (lambda c: set(c) == {"Loss", "Accuracy"}
                               and all(len(t) == 2 for t in c.values()) and c)(
        chart_traces(dash_duo)))
    for title, traces in charts.items():
        # one legend entry per run, naming only what differs between the runs
        assert dict(traces) == {"learning_rate 0.001 · num_epochs 4 · mlp": 4,
                                "learning_rate 0.01 · num_epochs 2 · cnn": 2}, traces
    assert line_style_key(dash_duo, "Loss") == ["train loss", "test loss"]
    dash_duo.wait_for_contains_text("#run-details", "test accuracy")


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
    wait_for(lambda: [r["status"].lower() for r in grid_rows(dash_duo)][:1] == ["cancelled"])


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
    choose(dash_duo, "#status-filter", "done")
    wait_for(lambda: {r["status"].lower() for r in grid_rows(dash_duo)} == {"done"}
             and len(grid_rows(dash_duo)) == 2)
    dash_duo.find_element("#text-filter").send_keys("mlp")
    wait_for(lambda: [r["row-id"] for r in grid_rows(dash_duo)] == [done_mlp])
    dash_duo.clear_input("#text-filter")
    dash_duo.find_element("#text-filter").send_keys("sgd")
    choose(dash_duo, "#status-filter", "waiting")
    wait_for(lambda: [r["row-id"] for r in grid_rows(dash_duo)] == [waiting_sgd])


# -- a task of the user's own ----------------------------------------------------------
@pytest.fixture
def quadratic(store):
    assert store.register_task(QUADRATIC)
    return QUADRATIC


def test_the_form_follows_the_task_selected(dash_duo, live_app, store, quadratic):
    open_dashboard(dash_duo, live_app)
    dash_duo.wait_for_element(param("mnist", "learning_rate"))
    choose(dash_duo, "#form-task", "quadratic")
    dash_duo.wait_for_element(param("quadratic", "x0"))
    dash_duo.wait_for_text_to_equal("#form-task-help", "x² by gradient descent · metrics: "
                                                       "loss ↓ (primary), x ↑")
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, param("mnist", "learning_rate"))
    # the fields in the order the task declares them (its schema went through Redis)
    assert [json.loads(e.get_attribute("id"))["field"] for e in dash_duo.driver.find_elements(
        By.CSS_SELECTOR, "#form-fields > .field")] == list(QUADRATIC.params)
    # a widget per type, with the defaults and the help texts
    assert value(dash_duo, param("quadratic", "x0")) == "3"
    assert value(dash_duo, param("quadratic", "lr")) == "0.1"
    dash_duo.find_element(slider("quadratic", "lr"))  # a log float: a slider too
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, slider("quadratic", "x0"))
    assert dash_duo.find_element(param("quadratic", "method")).text.startswith("gd")
    ticked = dash_duo.driver.find_elements(
        By.CSS_SELECTOR, param("quadratic", "noisy") + " input:checked")
    assert [t.get_attribute("value") for t in ticked] == ["false"]
    assert "step size (log scale)" in dash_duo.find_element(field_box("quadratic", "lr")).text
    # beta applies only with momentum: off, then on
    beta = dash_duo.find_element(field_box("quadratic", "beta"))
    wait_for(lambda: "field-off" in beta.get_attribute("class"))
    choose(dash_duo, param("quadratic", "method"), "momentum", "gd")  # momentum alone
    wait_for(lambda: "field-off" not in beta.get_attribute("class"))
    # its own rules, next to its own fields
    type_into(dash_duo, param("quadratic", "lr"), "2")
    dash_duo.wait_for_contains_text(field_error("lr"), "lr must be at least 0.0001 and at most 1")
    assert dash_duo.find_element("#submit").get_attribute("disabled") == "true"
    type_into(dash_duo, param("quadratic", "lr"), "0.5")
    dash_duo.wait_for_text_to_equal(field_error("lr"), "")
    # the slider follows the text and the text the slider
    handle = dash_duo.find_element(slider("quadratic", "lr") + " [role='slider']")
    wait_for(lambda: handle.get_attribute("aria-valuenow") == "-0.3")
    handle.send_keys(Keys.ARROW_LEFT)
    wait_for(lambda: value(dash_duo, param("quadratic", "lr"))
             == "0.4")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 quadratic job.")
    job = store.list_jobs().jobs[0]
    assert job.task == "quadratic" and job.hyper_params == {**QUADRATIC.defaults(), "lr": 0.4,
                                                            "method": "momentum"}
    assert store.queue_length("quadratic") == 1
    if DOCS:
        dash_duo.driver.save_screenshot(f"{DOCS}/form-task.png")
    choose(dash_duo, "#form-task", "mnist")  # and back: MNIST's form, its defaults
    dash_duo.wait_for_element(param("mnist", "learning_rate"))
    assert value(dash_duo, param("mnist", "learning_rate")) == "0.001"


def test_a_sweep_of_the_users_task_from_the_browser(dash_duo, live_app, store, quadratic):
    open_dashboard(dash_duo, live_app)
    choose(dash_duo, "#form-task", "quadratic")
    dash_duo.wait_for_element(param("quadratic", "x0"))
    type_into(dash_duo, param("quadratic", "lr"), "0.1, 0.2, 0.3")
    in_view(dash_duo, dash_duo.find_element(param("quadratic", "noisy")
                                            + " input[value='true']")).click()
    type_into(dash_duo, param("quadratic", "steps"), "4")
    dash_duo.wait_for_contains_text("#sweep-preview", "This will queue 6 jobs")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 6 jobs")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 6 quadratic jobs.")
    jobs = store.list_jobs(task="quadratic").jobs
    assert {(j.hyper_params["lr"], j.hyper_params["noisy"]) for j in jobs} == {
        (lr, n) for lr in (0.1, 0.2, 0.3) for n in (True, False)}
    assert all(j.num_epochs == 4 and j.hyper_params["x0"] == 3.0 for j in jobs)
    assert store.queue_length("quadratic") == 6 and store.queue_length() == 0
    wait_for(lambda: len(grid_rows(dash_duo)) == 6)


def test_the_table_shows_the_tasks_columns_sorted_by_its_primary_metric(dash_duo, live_app,
                                                                         store, quadratic):
    lrs = [0.05, 0.3, 0.01, 0.2, 0.1]
    loss = {quadratic_run(store, {"lr": lr, "steps": 4}): final_loss({"lr": lr, "steps": 4})
            for lr in lrs}
    finished_job(store, 97.0, 10.0)  # an mnist run beside them
    open_dashboard(dash_duo, live_app)
    wait_for(lambda: len(grid_rows(dash_duo)) == 6)
    # all tasks: the common columns and each task's primary metric
    columns = grid_columns(dash_duo)
    assert {"status", "task", "epochs", "progress", "loss", "test_accuracy", "runtime",
            "created"} <= set(columns)
    assert "lr" not in columns and "learning_rate" not in columns
    choose(dash_duo, "#task-filter", "quadratic")
    wait_for(lambda: len(grid_rows(dash_duo)) == 5 and "lr" in grid_columns(dash_duo))
    columns = grid_columns(dash_duo)
    assert [c for c in columns if c in QUADRATIC.params] == [
        "x0", "lr", "method", "beta", "noisy"]  # the task's order (steps: the epochs column)
    assert {"loss", "best_loss", "x"} <= set(columns)
    assert "test_accuracy" not in columns and "task" not in columns
    assert {r["task"] if "task" in r else "quadratic" for r in grid_rows(dash_duo)} == {
        "quadratic"}
    header = "#jobs-grid .ag-header-cell[col-id='{}'] .ag-header-cell-label"

    def order():
        return [r["row-id"] for r in grid_rows(dash_duo)]

    dash_duo.find_element(header.format("loss")).click()  # a loss: lowest first
    by_loss = sorted(loss, key=loss.get)
    wait_for(lambda: order() == by_loss)
    rows = grid_rows(dash_duo)
    assert [r["lr"] for r in rows] == [
        f"{lr:g}" for lr in sorted(lrs, key=lambda lr: final_loss({"lr": lr, "steps": 4}))]
    if DOCS:
        dash_duo.driver.save_screenshot(f"{DOCS}/table-task.png")
    dash_duo.find_element(header.format("loss")).click()
    wait_for(lambda: order() == by_loss[::-1])
    dash_duo.find_element(header.format("lr")).click()  # a hyperparameter: ascending
    wait_for(lambda: order() == [i for _, i in sorted(
        (store.get(i).hyper_params["lr"], i) for i in loss)])


def test_two_runs_of_a_task_overlaid_one_chart_per_metric(dash_duo, live_app, store,
                                                          quadratic):
    slow = quadratic_run(store, {"lr": 0.05, "steps": 6})
    fast = quadratic_run(store, {"lr": 0.3, "steps": 4, "method": "momentum", "beta": 0.5})
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, slow)
    select_row(dash_duo, fast)
    charts = wait_for(lambda: (lambda c: set(c) == {"Loss", "X"}
                               and all(len(t) == 2 for t in c.values()) and c)(
        chart_traces(dash_duo)))
    for traces in charts.values():
        # every epoch of each run; the legend names what differs (beta: gd has none)
        assert dict(traces) == {"lr 0.05 · steps 6 · gd · beta —": 6,
                                "lr 0.3 · steps 4 · momentum · beta 0.5": 4}, traces
    details = dash_duo.find_element("#run-details").text
    assert "beta\n0.5" in details or "beta 0.5" in details  # the parameters, from the schema
    assert "loss" in details and "x" in details
    if DOCS:
        dash_duo.driver.execute_script("document.querySelector('.runs-card').scrollIntoView()")
        time.sleep(0.5)
        dash_duo.driver.save_screenshot(f"{DOCS}/runs-task.png")


def test_clone_fills_the_form_for_the_jobs_task(dash_duo, live_app, store, quadratic):
    iid = store.create({"lr": 0.0123456789, "method": "momentum", "beta": 0.25, "noisy": True,
                        "steps": 7}, schema=QUADRATIC)
    open_dashboard(dash_duo, live_app)
    dash_duo.wait_for_element(param("mnist", "learning_rate"))  # the form is on mnist
    select_row(dash_duo, iid)
    button = dash_duo.find_element("#action-clone")
    wait_for(lambda: button.is_enabled())
    button.click()
    dash_duo.wait_for_element(param("quadratic", "lr"))
    wait_for(lambda: value(dash_duo, param("quadratic", "lr"))
             == "0.0123456789")
    assert value(dash_duo, param("quadratic", "beta")) == "0.25"
    assert value(dash_duo, param("quadratic", "steps")) == "7"
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    dash_duo.find_element("#submit").click()
    # the same hyperparameters: the form asks first (runmeta's "already ran?")
    dash_duo.wait_for_contains_text("#submit-result", "This job exists already")
    next(b for b in dash_duo.find_elements("#already-ran button") if b.text == "Queue again"
         ).click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 quadratic job.")
    clones = [j for j in store.list_jobs().jobs if j.iid != iid]
    assert [(j.task, j.hyper_params) for j in clones] == [
        ("quadratic", store.get(iid).hyper_params)]


def test_the_header_says_when_no_worker_runs_a_waiting_task(dash_duo, live_app, store,
                                                             quadratic):
    store.register_worker("w1", {"id": "w1", "tasks": ["mnist"]}, ttl=60)
    store.create(HyperParams())
    open_dashboard(dash_duo, live_app)
    dash_duo.wait_for_contains_text("#count-waiting", "1")
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".no-worker")  # mnist is served
    store.create({}, schema=QUADRATIC)
    dash_duo.wait_for_text_to_equal(".no-worker", "no worker runs task quadratic")
    store.register_worker("w2", {"id": "w2", "tasks": ["quadratic"]}, ttl=60)
    wait_for(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".no-worker"))


@pytest.fixture
def watched_app(store):
    """The real app on waitress, recording the status of every callback request."""
    from helpers import serving
    from mltrack.app import create_app

    server = create_app(store)
    statuses: list[tuple[int, str]] = []

    @server.after_request
    def record(response):
        from flask import request
        if request.path == CALLBACK_PATH:
            statuses.append((response.status_code, request.get_data(as_text=True)[:300]))
        return response

    # serving() lets the requests the browser still sends finish before the store's
    # fixtures flush the database, and closes waitress's wake-up pipe after them
    with serving(server) as url:
        yield url, statuses


def test_clone_in_the_page_keeps_full_precision_and_the_page_passes_the_guard(
        dash_duo, watched_app, store):
    url, statuses = watched_app
    store.register_task(QUADRATIC)
    quadratic_run(store, {"steps": 2})
    iid = store.create(HyperParams(model="mlp", optimizer="sgd", learning_rate=0.0012345678,
                                   momentum=0.9))
    open_dashboard(dash_duo, url)
    select_row(dash_duo, iid)
    button = dash_duo.find_element("#action-clone")
    wait_for(lambda: button.is_enabled())
    button.click()
    lr = param("mnist", "learning_rate")
    wait_for(lambda: value(dash_duo, lr) == "0.0012345678")
    assert value(dash_duo, param("mnist", "momentum")) == "0.9"
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    dash_duo.find_element("#submit").click()
    # the same hyperparameters as the cloned job: the form asks first
    dash_duo.wait_for_contains_text("#submit-result", "This job exists already")
    next(b for b in dash_duo.find_elements("#already-ran button") if b.text == "Queue again"
         ).click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 mnist job.")
    clones = [j for j in store.list_jobs(task="mnist").jobs if j.iid != iid]
    assert [j.hyper_params for j in clones] == [store.get(iid).hyper_params]
    dash_duo.find_element(slider("mnist", "learning_rate") + " [role='slider']").send_keys(
        Keys.ARROW_LEFT)
    wait_for(lambda: value(dash_duo, lr)
             != "0.0012345678")  # the slider rewrites the text
    # every other widget and filter, so that each callback is called from the page
    choose(dash_duo, "#form-task", "quadratic")
    dash_duo.wait_for_element(param("quadratic", "x0"))
    choose(dash_duo, param("quadratic", "method"), "momentum")
    in_view(dash_duo, dash_duo.find_element(param("quadratic", "noisy")
                                            + " input[value='true']")).click()
    type_into(dash_duo, param("quadratic", "x0"), "1, 2")
    dash_duo.wait_for_contains_text("#sweep-preview", "This will queue 8 jobs")
    choose(dash_duo, "#task-filter", "quadratic")
    wait_for(lambda: "lr" in grid_columns(dash_duo))
    choose(dash_duo, "#status-filter", "done")
    time.sleep(2 * 1.5)  # two refresh ticks: header, grid, run view
    wait_for(lambda: len(statuses) > 20)  # a busy machine answers them later
    # Every request the real page sent fits its callback: the guard refused none.
    assert statuses and all(code in (200, 204) for code, _ in statuses), [
        s for s in statuses if s[0] not in (200, 204)]
    assert len(statuses) > 20
# -- callback requests without a browser: any page can post anything to them ----------
def _reject_constant(name):
    raise AssertionError(f"{name} in a JSON answer")


def call(client, body, raw: bool = False):
    data = body if raw else json.dumps(body)
    return client.post(CALLBACK_PATH, data=data, content_type="application/json")


def snapshot(store):
    return sorted((k, store.redis.type(k)) for k in store.redis.scan_iter(f"{store.prefix}*"))


def rows_key(app) -> str:
    """The rows callback (it answers the header and the counts too)."""
    return find_callback(app, "getRowsResponse")


def rows_body(app, request, status=None, text=None, **values):
    return callback_body(app, rows_key(app), {"jobs-grid.getRowsRequest": request,
                                              "status-filter.value": status,
                                              "text-filter.value": text, **values},
                         ["jobs-grid.getRowsRequest"])


def _bad_bodies(app):
    """(body or raw text, field named in the 400)."""
    rows = rows_body(app, {"startRow": 0, "endRow": 100})
    form = find_callback(app, "field-error")
    form_body = callback_body(app, form, changed=[f"{id_key(param_id('mnist', 'seed'))}.value"])

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
        (changed(rows, outputs=[{"id": "jobs-grid", "property": "rowData"}, *rows["outputs"][1:]]),
         "outputs[0].property"),
        (changed(rows, outputs=None), "outputs"),
        (changed(rows, outputs={"id": "jobs-grid", "property": "getRowsResponse"}), "outputs"),
        (changed(rows, outputs=[{"id": "jobs-grid", "property": "getRowsResponse"}]), "outputs"),
        (changed(rows, changedPropIds=["{bad json.x"]), "changedPropIds"),
        (changed(rows, changedPropIds="jobs-grid.getRowsRequest"), "changedPropIds"),
        (changed(rows, changedPropIds=[5]), "changedPropIds"),
        (changed(rows, changedPropIds=["tick.n_intervals"]), "changedPropIds"),
        (changed(rows, inputs=[{"id": "jobs-grid", "property": "getRowsRequest",
                                "value": json.loads("[" * 100 + "]" * 100)}]), "body"),
        (changed(form_body, outputs=[{"id": "x", "property": "children"}] * len(form_body["outputs"])),
         "outputs[0]"),
        (wildcard_output({"type": "field-error"}), "outputs[0][0].id"),
        (wildcard_output({"type": "other", "field": "seed"}), "outputs[0][0].id.type"),
        (wildcard_output({"type": "field-error", "field": ["seed"]}), "outputs[0][0].id.field"),
        (wildcard_output("field-error"), "outputs[0][0].id"),
        (changed(form_body, inputs=[form_body["inputs"][0][0], form_body["inputs"][1]]),
         "inputs[0]"),  # ALL: a list, not one widget
        (changed(form_body, inputs=[[{**form_body["inputs"][0][0], "id": {"type": "param"}}],
                                    form_body["inputs"][1]]), "inputs[0][0].id"),
        (changed(form_body, inputs=[[{**form_body["inputs"][0][0], "id": {
            **form_body["inputs"][0][0]["id"], "task": ["mnist"]}}], form_body["inputs"][1]]),
         "inputs[0][0].id.task"),
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
                     CLONE):
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


def tracked_run(client, status="failed", task="my-experiment") -> str:
    """A run tracked from a script (POST /runs, as Client().start_run), ended
    (failed by its script, or cancelled from outside)."""
    r = client.post("/runs", json={"task": task, "hyper_params": {"lr": 0.1}})
    assert r.status_code == 201, r.json
    iid, token = r.json["iid"], r.json["token"]
    if status == "cancelled":
        r = client.post(f"/experiments/{iid}/cancel", json={})
    else:
        r = client.post(f"/runs/{iid}/finish", json={"token": token, "status": status})
    assert r.status_code == 200, r.json
    return iid


def test_retry_leaves_script_runs_to_their_scripts_and_says_so(app, client, store):
    # review item 14: a tracked run is not retryable (the store refuses it), so Retry and
    # Clone are off for it, and a Retry beside a queue job says why it was skipped
    script = tracked_run(client)
    queued = store.create(HyperParams())
    store.cancel(queued)
    selection = find_callback(app, "action-retry.disabled")
    r = call(client, callback_body(app, selection, {
        "jobs-grid.selectedRows": [{"iid": script, "status": "failed"}]},
        ["jobs-grid.selectedRows"]))
    answer = r.json["response"]
    assert answer["action-retry"]["disabled"] is True
    assert answer["action-clone"]["disabled"] is True
    assert "tracked from scripts" in answer["action-clone"]["title"]
    assert "run again by their script" in answer["action-retry"]["title"]
    both = [{"iid": script, "status": "failed"}, {"iid": queued, "status": "cancelled"}]
    r = call(client, callback_body(app, selection, {"jobs-grid.selectedRows": both},
                                   ["jobs-grid.selectedRows"]))
    assert r.json["response"]["action-retry"]["disabled"] is False
    retry = call(client, _act_body(app, "action-retry.n_clicks", both))
    assert retry.json["response"]["action-result"]["children"] == (
        "Queued again 1 job; 1 skipped: script runs are run again by their script.")
    assert store.counts()["waiting"] == 1 and store.get(script).status is Status.FAILED


def test_retry_on_all_matching_counts_only_what_it_queues(app, client, store):
    scripts = [tracked_run(client, status) for status in ("failed", "cancelled", "failed")]
    queued = store.create(HyperParams())
    store.cancel(queued)
    values = {"all-matching.value": ["all"], "rows-read.data": {"sort": "created",
                                                                 "order": "desc", "total": 4}}
    ask = find_callback(app, "confirm-retry.displayed")
    r = call(client, callback_body(app, ask, {**values, "action-retry.n_clicks": 1},
                                   ["action-retry.n_clicks"]))
    assert r.json["response"]["confirm-retry"]["message"] == (
        "Queue 1 job of the 4 matching again (the failed and cancelled ones) "
        "(3 left out: script runs are run again by their script)?")
    act = find_callback(app, "action-result.children")
    r = call(client, callback_body(app, act, {**values, "confirm-retry.submit_n_clicks": 1},
                                   ["confirm-retry.submit_n_clicks"]))
    assert r.json["response"]["action-result"]["children"] == (
        "Queued again 1 job; 3 skipped: script runs are run again by their script.")
    # only script runs failed or cancelled: Retry on all matching is off
    store.delete(queued)
    selection = find_callback(app, "action-retry.disabled")
    r = call(client, callback_body(app, selection, {**values, "status-filter.value": "failed"},
                                   ["all-matching.value"]))
    answer = r.json["response"]
    assert answer["action-retry"]["disabled"] is True and answer["action-delete"][
        "disabled"] is False
    assert all(store.get(i).status is not Status.WAITING for i in scripts)


def test_a_form_list_with_an_empty_item_is_refused_beside_its_field(app, client, store):
    # review items 4 and 5: "0.1,,0.2" queued 2 jobs (the CLI refuses it); "0,01" said "not 0"
    values = form.form_values(MNIST)
    for typed, said in (("0.1,,0.2", "learning rate has an empty value in “0.1,,0.2”"),
                        ("0,01", "a comma separates values, so “0,01” reads as 0 and 01; "
                                 "for a decimal write 0.01")):
        r = call(client, form_body(app, "field-error", "mnist",
                                   {**values, "learning_rate": typed}))
        answer = r.json["response"]
        assert said in answer[id_key({"type": "field-error", "field": "learning_rate"})][
            "children"]
        assert answer["submit"]["disabled"] is True
    r = call(client, form_body(app, "..submit-result", "mnist", {**values, "num_epochs": "3,"}))
    assert r.status_code in (200, 204) and store.counts()["total"] == 0


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
        view = find_callback(app, "run-graphs.children")
        r = call(client, callback_body(app, view, {"run-select.value": chosen},
                                       ["run-select.value"]))
        assert r.status_code == 204


SLIDER = {"type": "param-slider", "task": "mnist", "field": "learning_rate"}
LR_TEXT = param_id("mnist", "learning_rate")


def slider_body(app, exponent, text, trigger):
    key = find_callback(app, "param-slider")
    return callback_body(app, key, {f"{id_key(SLIDER)}.value": exponent,
                                    f"{id_key(LR_TEXT)}.value": text},
                         [f"{id_key(trigger)}.value"])


@pytest.mark.parametrize("exponent", ["a", 1e308, -1e308, 7, None, [1], True])
def test_the_learning_rate_slider_ignores_positions_it_does_not_have(app, client, exponent):
    r = call(client, slider_body(app, exponent, "0.001", SLIDER))
    assert r.status_code == 204


@pytest.mark.parametrize("text, exponent", [
    ("nan", None), ("inf", None), ("-1", None), ("1e400", None), ("0", None), ([0.1], None),
    ("0.01", -2), ("1e-9", -5), ("10", 1),
])
def test_the_learning_rate_text_moves_the_slider_only_when_it_is_a_rate(app, client, text,
                                                                        exponent):
    r = call(client, slider_body(app, -3, text, LR_TEXT))
    assert r.status_code == 200
    answer = json.loads(r.get_data(as_text=True), parse_constant=_reject_constant)
    assert id_key(LR_TEXT) not in answer["response"]  # the text is the truth
    moved = answer["response"].get(id_key(SLIDER), {}).get("value")
    assert moved == exponent


def test_the_slider_of_a_field_that_has_none_is_ignored(app, client, store):
    """The slider callback named with another field's or task's ids changes nothing."""
    store.register_task(QUADRATIC)
    for task, field in (("mnist", "seed"), ("nope", "learning_rate"), ("quadratic", "x0")):
        body = slider_body(app, -2, "0.01", SLIDER)
        for part in ("outputs", "inputs"):
            for item in body[part]:
                item["id"] = {**item["id"], "task": task, "field": field}
        body["changedPropIds"] = [f"{id_key(body['inputs'][0]['id'])}.value"]
        assert call(client, body).status_code == 204, (task, field)


def form_items(task: str, values: dict) -> list[dict]:
    """The ALL list of the form's widgets, as the page sends it for `task`."""
    return [{"id": param_id(task, f), "property": "value", "value": v} for f, v in values.items()]


def form_body(app, fragment: str, task: str, values: dict, selected_task: str | None = None,
              version=0):
    """The form check's or the submit's request, for the widgets of `task`."""
    key = find_callback(app, fragment)
    body = callback_body(app, key, {"form-task.value": selected_task or task,
                                    "grid-version.data": version, "submit.n_clicks": 1},
                         ["form-task.value" if "field-error" in fragment else "submit.n_clicks"])
    part = "inputs" if "field-error" in fragment else "state"
    body[part][0] = form_items(task, values)
    if "field-error" in fragment:  # the outputs: that task's fields
        body["outputs"][0] = [{"id": {"type": "field-error", "field": f}, "property": "children"}
                              for f in values]
        body["outputs"][1] = [{"id": {"type": "param-field", "task": task, "field": f},
                               "property": "className"} for f in values]
    return body


def test_the_form_check_takes_any_value_without_a_500(app, client, store):
    values = ["9" * 400, 10**400 // 10**300, [1] * 2000, {"a": 1}, [None], True, -0.0, "1e400",
              [[0.1]], "0.1," * 1500, None, ["sgd", {"x": 1}]]
    fields = list(MNIST.params)
    for n, value in enumerate(values):
        changed = {f: value for f in fields}
        changed["optimizer"] = value if n % 2 else ["sgd"]  # so momentum applies
        r = call(client, form_body(app, "field-error", "mnist", changed))
        assert r.status_code == 200, (value, r.data[:300])
        answer = r.json["response"]
        assert answer["submit"]["disabled"] is True  # every field refused
        errors = answer[id_key({"type": "field-error", "field": "learning_rate"})]
        assert errors["children"]
    assert store.counts()["total"] == 0


def test_the_form_check_reads_the_selected_tasks_schema(app, client, store):
    store.register_task(QUADRATIC)
    values = {**form.form_values(QUADRATIC), "lr": "0.1, 0.2", "method": ["gd", "momentum"]}
    r = call(client, form_body(app, "field-error", "quadratic", values))
    assert r.status_code == 200
    answer = r.json["response"]
    assert answer["submit"] == {"children": "Queue 4 jobs", "disabled": False}
    assert "This will queue 4 jobs" in answer["sweep-preview"]["children"]
    beta = answer[id_key({"type": "param-field", "task": "quadratic", "field": "beta"})]
    assert "field-off" not in beta["className"]  # momentum is among the methods
    r = call(client, form_body(app, "field-error", "quadratic", {**values, "lr": "5"}))
    answer = r.json["response"]
    assert "at most 1" in answer[id_key({"type": "field-error", "field": "lr"})]["children"]
    assert answer["submit"]["disabled"] is True
    # the widgets of one task with another selected: the form is being rebuilt, no answer
    r = call(client, form_body(app, "field-error", "quadratic", values, selected_task="mnist"))
    assert r.status_code == 204
    r = call(client, form_body(app, "field-error", "quadratic", values, selected_task="cubic"))
    assert r.status_code == 204
    del values["noisy"]  # not every widget of the task: not its form
    assert call(client, form_body(app, "field-error", "quadratic", values)).status_code == 204


def test_submit_queues_the_selected_tasks_jobs_and_nothing_when_in_doubt(app, client, store):
    store.register_task(QUADRATIC)
    values = {**form.form_values(QUADRATIC), "x0": "1, 2, 3"}
    r = call(client, form_body(app, "..submit-result", "quadratic", values, version=4))
    assert r.status_code == 200
    answer = r.json["response"]
    assert answer["submit-result"]["children"] == "Queued 3 quadratic jobs."
    assert answer["grid-version"]["data"] == 5
    jobs = store.list_jobs(task="quadratic").jobs
    assert sorted(j.hyper_params["x0"] for j in jobs) == [1.0, 2.0, 3.0]
    before = snapshot(store)
    for task, selected, changed in (("quadratic", "mnist", {}), ("quadratic", "cubic", {}),
                                    ("quadratic", "quadratic", {"x0": "11"}),
                                    ("quadratic", "quadratic", {"x0": None})):
        r = call(client, form_body(app, "..submit-result", task, {**values, **changed},
                                   selected_task=selected))
        assert r.status_code == 200 and "grid-version" not in r.json["response"]
    assert snapshot(store) == before


def clone_and_build(app, client, iid):
    """Clone as the page does it: the clone callback, then the form built from its answer."""
    key = find_callback(app, CLONE)
    r = call(client, callback_body(app, key, {"action-clone.n_clicks": 1,
                                              "jobs-grid.selectedRows": [{"iid": iid,
                                                                          "status": "waiting"}]},
                                   ["action-clone.n_clicks"]))
    if r.status_code != 200:
        return r, None
    answer = r.json["response"]
    task, fill = answer["form-task"]["value"], answer["form-fill"]["data"]
    build = find_callback(app, "form-fields.children")
    built = call(client, callback_body(app, build, {"form-task.value": task,
                                                    "form-fill.data": fill},
                                       ["form-task.value", "form-fill.data"]))
    assert built.status_code == 200
    widgets = {}

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            cid = props.get("id")
            if isinstance(cid, dict) and cid.get("type") == "param":
                widgets[cid["field"]] = props.get("value")
            for value in props.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(built.json["response"]["form-fields"]["children"])
    return r, (task, widgets)


def test_clone_fills_the_form_at_full_precision(app, client, store):
    iid = store.create(HyperParams(learning_rate=0.0012345678, optimizer="sgd",
                                   momentum=0.912345678, weight_decay=1.5e-7))
    r, (task, widgets) = clone_and_build(app, client, iid)
    assert task == "mnist"
    assert widgets["learning_rate"] == "0.0012345678"  # `:g` made it 0.00123457
    assert widgets["momentum"] == "0.912345678" and widgets["weight_decay"] == "1.5e-07"
    jobs, errors = form.parse_form(MNIST, widgets)
    assert errors == {} and jobs == [store.get(iid).hyper_params]


def test_clone_of_a_users_task_switches_the_form_to_it(app, client, store):
    store.register_task(QUADRATIC)
    iid = store.create({"lr": 0.0123456789, "noisy": True, "method": "momentum", "beta": 0.3},
                       schema=QUADRATIC)
    r, (task, widgets) = clone_and_build(app, client, iid)
    assert task == "quadratic"
    assert widgets == {"x0": "3", "lr": "0.0123456789", "steps": "5", "method": ["momentum"],
                       "beta": "0.3", "noisy": ["true"]}
    assert form.parse_form(QUADRATIC, widgets) == ([store.get(iid).hyper_params], {})


def test_the_form_is_built_for_known_tasks_only(app, client, store):
    build = find_callback(app, "form-fields.children")
    for task, fill in (("cubic", None), (None, None), (["mnist"], None), (5, None)):
        r = call(client, callback_body(app, build, {"form-task.value": task,
                                                    "form-fill.data": fill},
                                       ["form-task.value"]))
        assert r.status_code == 204
    for fill in ({"iid": "0" * 32}, {"iid": "x"}, "x", [1], {"iid": ["0" * 32]}):
        r = call(client, callback_body(app, build, {"form-task.value": "mnist",
                                                    "form-fill.data": fill},
                                       ["form-fill.data"]))
        assert r.status_code == 200  # the defaults: nothing to fill with


def test_clone_of_a_job_deleted_meanwhile_changes_nothing(app, client, store):
    key = find_callback(app, CLONE)
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
    view = find_callback(app, "run-graphs.children")
    r = call(client, callback_body(app, view, {"run-select.value": [iid]}, ["run-select.value"]))
    assert r.status_code == 200
    answer = json.loads(r.get_data(as_text=True), parse_constant=_reject_constant)
    graphs = answer["response"]["run-graphs"]["children"]
    loss = next(g for g in graphs if g["props"]["id"]["key"] == "mnist/loss")
    losses = [t["y"] for t in loss["props"]["figure"]["data"]]
    assert [None, 1.0 / (2 + 0.97)] in losses  # the train loss: NaN shown as a gap
    rows = call(client, rows_body(app, {"startRow": 0, "endRow": 10}))
    got = json.loads(rows.get_data(as_text=True), parse_constant=_reject_constant)
    assert got["response"]["jobs-grid"]["getRowsResponse"]["rowData"][0]["train_loss"] is None


def test_the_run_view_draws_each_tasks_chart_groups(app, client, store):
    store.register_task(QUADRATIC)
    q = quadratic_run(store, {"steps": 3})
    m = finished_job(store, 97.0, 10.0, epochs=2)
    view = find_callback(app, "run-graphs.children")
    r = call(client, callback_body(app, view, {"run-select.value": [q, m]}, ["run-select.value"]))
    graphs = r.json["response"]["run-graphs"]["children"]
    assert [g["props"]["id"]["key"] for g in graphs] == [
        "quadratic/loss", "quadratic/x", "mnist/loss", "mnist/accuracy"]
    titles = [g["props"]["figure"]["layout"]["title"]["text"] for g in graphs]
    assert titles == ["quadratic · Loss", "quadratic · X", "mnist · Loss", "mnist · Accuracy"]
    details = json.dumps(r.json["response"]["run-details"])
    assert '"lr"' in details and '"learning rate"' in details  # each run's own parameters
    r = call(client, callback_body(app, view, {"run-select.value": [], "run-signature.data": [[q, "done", 3]]},
                                   ["run-select.value"]))
    graphs = r.json["response"]["run-graphs"]["children"]
    assert [g["props"]["id"]["key"] for g in graphs] == ["empty"]


def test_rows_follow_the_task_filter_and_its_sort_names(app, client, store):
    store.register_task(QUADRATIC)
    q = [quadratic_run(store, {"lr": lr, "steps": 3}) for lr in (0.1, 0.3, 0.2)]
    finished_job(store, 97.0, 10.0)
    request = {"startRow": 0, "endRow": 100, "sortModel": [{"colId": "loss", "sort": "asc"}]}
    body = callback_body(app, rows_key(app), {"jobs-grid.getRowsRequest": request,
                                              "task-filter.value": "quadratic"},
                         ["jobs-grid.getRowsRequest"])
    got = call(client, body).json["response"]["jobs-grid"]["getRowsResponse"]
    loss = {i: final_loss({"lr": lr, "steps": 3}) for i, lr in zip(q, (0.1, 0.3, 0.2))}
    assert [row["iid"] for row in got["rowData"]] == sorted(loss, key=loss.get)
    assert got["rowCount"] == 3 and got["rowData"][0]["lr"] == 0.3
    for task in ("cubic", 5, ["quadratic"]):
        body = callback_body(app, rows_key(app), {"jobs-grid.getRowsRequest": request,
                                                  "task-filter.value": task},
                             ["jobs-grid.getRowsRequest"])
        assert call(client, body).status_code == 204
    columns = find_callback(app, "columnDefs")
    r = call(client, callback_body(app, columns, {"task-filter.value": "quadratic"},
                                   ["task-filter.value"]))
    fields = [c["field"] for c in r.json["response"]["jobs-grid"]["columnDefs"]]
    assert fields == [c["field"] for c in views.table_columns(
        store.schemas(), "quadratic", store.sort_keys("quadratic"))]
    assert "lr" in fields and "loss" in fields


@pytest.mark.parametrize("search", [
    None, 5, ["?q=x"], "", "?", "?status=lost&task=cubic&order=sideways&sort=DROP%20TABLE",
    "?" + "q=x&" * 5000, "?ticked=" + ",".join(["0" * 32] * 500), "?q=" + "x" * 5000,
    "?chart_log=" + "1" * 100, "?chart_%00=1", "?%ff%fe=1", "?status=done&status=failed",
    "?sort=__proto__", "?sort=constructor", "?sort=nosuchcol",
], ids=lambda s: repr(s)[:40])
def test_a_url_may_say_anything(app, client, store, search):
    # (a sort that is no column, __proto__ included, is dropped: the grid's
    # JavaScript would look it up as an object's property)
    """The view restored from a link: nonsense left out, never a 500."""
    key = find_callback(app, "restore.data")
    r = call(client, callback_body(app, key, {"url.search": search}, ["url.search"]))
    assert r.status_code in (200, 204), r.data[:300]
    if r.status_code == 200:
        answer = r.json["response"]
        assert answer["status-filter"]["value"] in (None, "done")
        assert answer["task-filter"]["value"] is None
        restored = answer["restore"]["data"]
        assert restored["order"] is None and len(restored["ticked"]) <= 1
        assert restored["sort"] is None  # none of these links names a column
        assert len(answer["text-filter"]["value"]) <= views.MAX_TEXT


def test_a_form_state_is_queued_once_even_by_clicks_sent_before_the_first_answer(app, client,
                                                                                  store):
    """Two submits of the same form state (its token): the second queues nothing."""
    values = {**form.form_values(MNIST), "seed": "1, 2"}
    body = form_body(app, "..submit-result", "mnist", values)
    body["state"][-1]["value"] = "a" * 32  # the form's token, as check_form gave it
    first, second = call(client, body), call(client, body)
    assert first.json["response"]["submit-result"]["children"] == "Queued 2 mnist jobs."
    assert second.json["response"]["submit-result"]["children"] == (
        "Already queued: change the form to queue more.")
    assert "grid-version" not in second.json["response"] and store.counts()["total"] == 2
    body["state"][-1]["value"] = "b" * 32  # the form changed: a new token
    # the same jobs exist now: the form asks first (runmeta), then queues on "Queue all again"
    asked = call(client, body).json["response"]["submit-result"]["children"]
    assert "2 of these 2 jobs exist already" in json.dumps(asked)
    again = {"type": "already-ran", "action": "all", "token": "b" * 32}
    body["inputs"][1] = [{"id": again, "property": "n_clicks", "value": 1}]
    body["changedPropIds"] = [f"{id_key(again)}.n_clicks"]
    assert call(client, body).json["response"]["submit-result"]["children"] == (
        "Queued 2 mnist jobs.")
    assert store.counts()["total"] == 4


@pytest.mark.parametrize("read, everything, where", [
    ({"sort": ["x"], "order": 5, "total": "many"}, ["all"], None), ("x", None, 5),
    ({"sort": "test_accuracy", "order": "desc", "total": True}, ["all"], "acc >"),
    (None, ["all", "all"], "test_accuracy > 1e400"), ([1], {"all": 1}, ["x"]),
    ({"sort": "nope", "order": "asc", "total": -1}, ["everything"], "loss < 1, " * 50),
])
def test_the_table_callbacks_take_any_state_without_a_500(app, client, store, read,
                                                          everything, where):
    iid = store.create(HyperParams())
    before = snapshot(store)
    selected = [{"iid": iid, "status": "waiting"}]
    values = {"jobs-grid.selectedRows": selected, "rows-read.data": read,
              "all-matching.value": everything, "where-filter.value": where}
    for fragment, trigger in (("action-cancel.disabled", "jobs-grid.selectedRows"),
                              ("confirm-cancel.displayed", "action-cancel.n_clicks"),
                              ("confirm-retry.displayed", "action-retry.n_clicks"),
                              (CLONE, "action-clone.n_clicks")):
        key = find_callback(app, fragment)
        r = call(client, callback_body(app, key, {**values, trigger: 1}, [trigger]))
        assert r.status_code in (200, 204), (fragment, r.data[:300])
    r = call(client, rows_body(app, {"startRow": 0, "endRow": 10}, **{
        "where-filter.value": where}))
    assert r.status_code in (200, 204), r.data[:300]
    assert snapshot(store) == before


def test_a_metric_filter_reaches_the_store_and_a_bad_one_is_said(app, client, store):
    high = finished_job(store, 98.0, 10.0, epochs=1)
    finished_job(store, 90.0, 10.0, epochs=1)
    r = call(client, rows_body(app, {"startRow": 0, "endRow": 10},
                               **{"where-filter.value": "test accuracy > 97"}))
    answer = r.json["response"]
    assert [row["iid"] for row in answer["jobs-grid"]["getRowsResponse"]["rowData"]] == [high]
    assert answer["match-count"]["children"] == "1 matching"
    assert answer["where-error"]["children"] == ""
    r = call(client, rows_body(app, {"startRow": 0, "endRow": 10},
                               **{"where-filter.value": "speed > 3"}))
    answer = r.json["response"]
    assert answer["jobs-grid"]["getRowsResponse"]["rowCount"] == 2  # left out, and said
    assert "no column “speed”" in answer["where-error"]["children"]
