"""The form's search mode and the searches view: the body the form builds (and
its errors, each at its field), create_search's refusals mapped back to the
field they name, the searches view's text; then in a real browser: a search
started from the form shows in the searches view (a bad range first: its
error beside the field, no search made), and the analysis panel follows the
table's filter."""
from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By

from dash_requests import CALLBACK_PATH, callback_body, find_callback
from helpers import wait_for
from mltrack import analysis_view, form, search_form, search_view
from mltrack.search import create_search, list_searches, search_record
from sample_tasks import QUADRATIC, quadratic_run
from sample_tasks import TASK as QUAD_TASK

VALUES = form.form_values(QUADRATIC)  # the form as it opens: every default
SETTINGS = {"trials": "6", "parallel": "2", "sampler": "tpe", "pruner": "median",
            "objective": "loss", "name": ""}


def body(how=None, ranges=None, values=None, **settings):
    return search_form.search_body(QUADRATIC, {**VALUES, **(values or {})}, how or {},
                                   ranges or {}, {**SETTINGS, **settings})


def test_the_form_builds_a_search_body_of_ranges_choices_and_fixed_values():
    got, errors = body(how={"lr": "range", "method": "choices", "x0": "fixed"},
                       ranges={"lr": {"low": "0.001", "high": "0.5", "log": True}},
                       values={"method": ["gd", "momentum"], "x0": "2.5"}, name=" lr study ")
    assert errors == {}
    assert got == {"task": "quadratic",
                   "space": {"lr": {"low": 0.001, "high": 0.5, "log": True},
                             "method": ["gd", "momentum"]},
                   "fixed": {"x0": 2.5, "steps": 5, "noisy": False, "beta": 0.9},
                   "trials": 6, "parallel": 2, "sampler": "tpe", "pruner": "median",
                   "objective": {"metric": "loss", "goal": "min"}, "name": "lr study"}


def test_an_int_range_is_of_whole_numbers_and_choices_of_one_value_are_fixed():
    got, errors = body(how={"steps": "range", "x0": "choices"},
                       ranges={"steps": {"low": "2", "high": "20", "log": False}},
                       values={"x0": "1.5"}, pruner="none")
    assert errors == {}
    assert got["space"] == {"steps": {"low": 2, "high": 20, "log": False}}
    assert got["fixed"]["x0"] == 1.5 and got["pruner"] is None


@pytest.mark.parametrize("how, ranges, values, settings, field, words", [
    ({"lr": "range"}, {"lr": {"low": "0.5", "high": "0.1"}}, {}, {}, "lr", "below its high"),
    ({"lr": "range"}, {"lr": {"low": "", "high": "0.1"}}, {}, {}, "lr", "needs a low"),
    ({"lr": "range"}, {"lr": {"low": "0.01", "high": "5"}}, {}, {}, "lr", "at most 1"),
    ({"x0": "range"}, {"x0": {"low": "-1", "high": "1", "log": True}}, {}, {}, "x0",
     "log range needs a low above 0"),
    ({"lr": "choices"}, {}, {"lr": "0.1, abc"}, {}, "lr", "not a number"),
    ({"lr": "choices"}, {}, {"x0": "1, 2"}, {}, "x0", "fixed takes one value"),
    ({"lr": "choices"}, {}, {"lr": "0.1, 0.2"}, {"trials": "0"}, "trials", "from 1"),
    ({"lr": "choices"}, {}, {"lr": "0.1, 0.2"}, {"parallel": "two"}, "parallel", "whole"),
    ({"lr": "choices"}, {}, {"lr": "0.1, 0.2"}, {"objective": "nope"}, "objective", "one of"),
    ({}, {}, {}, {}, form.FORM_ERROR, "Nothing to search"),
])
def test_bad_input_is_said_at_its_field_and_makes_no_body(how, ranges, values, settings, field,
                                                          words):
    got, errors = body(how, ranges, values, **settings)
    assert got is None
    assert words in errors[field]


def test_a_refusal_of_create_search_is_shown_at_the_field_it_names():
    assert search_form.error_targets("space.lr", QUADRATIC) == "lr"
    assert search_form.error_targets("fixed.beta", QUADRATIC) == "beta"
    assert search_form.error_targets("trials", QUADRATIC) == "trials"
    assert search_form.error_targets("objective.metric", QUADRATIC) == "objective"
    assert search_form.error_targets("space", QUADRATIC) == form.FORM_ERROR


def test_the_body_is_one_create_search_takes(store):
    store.register_task(QUADRATIC)
    got, _ = body(how={"lr": "range", "method": "choices"},
                  ranges={"lr": {"low": "0.001", "high": "0.5", "log": True}},
                  values={"method": ["gd", "momentum"]})
    record = create_search(store, store.schemas(), got)
    assert record["trials"] == 6 and record["task"] == "quadratic"
    # a grid over a range is refused by the search engine: the form shows it at lr
    grid, _ = body(how={"lr": "range"}, ranges={"lr": {"low": "0.001", "high": "0.5"}},
                   sampler="grid")
    created, errors = search_form._create(store, grid, QUADRATIC)
    assert created is None and "grid" in errors["lr"]
    assert len(list_searches(store)) == 1  # nothing more was made


def test_the_progress_line_counts_every_kind_of_end():
    record = {"trials": 20, "finished": 7, "done": 4, "pruned": 3, "running": 2, "waiting": 11}
    assert search_view.progress_text(record) == \
        "7 of 20 finished (4 done, 3 pruned) · 2 running · 11 waiting"
    assert search_view.progress_share(record) == 0.35
    assert search_view.best_text({"best": None}) == "no finished trial yet"
    assert search_view.best_text({"best": {"value": 0.5}, "objective": {"metric": "test_loss"}}
                                 ) == "test loss 0.5"


def run_search(store, trials: int) -> dict:
    """A quadratic search run to its end by a driver and two workers (threads)."""
    import threading

    from mltrack.search.driver import SearchDriver
    from mltrack.worker import Worker, WorkerConfig

    store.register_task(QUADRATIC)
    got, _ = body(how={"lr": "range", "x0": "range"},
                  ranges={"lr": {"low": "0.01", "high": "0.5", "log": True},
                          "x0": {"low": "-5", "high": "5"}}, trials=str(trials), pruner="none")
    record = create_search(store, store.schemas(), got)
    stop = threading.Event()
    threads = [threading.Thread(target=SearchDriver(store, stop, tick=0.05).run, daemon=True)]
    threads += [threading.Thread(target=Worker(
        store, QUAD_TASK, name=f"w{n}", stop_event=stop, config=WorkerConfig(idle_poll=0.02),
        data_dir="/tmp/mltrack-test").run, daemon=True) for n in range(2)]
    for thread in threads:
        thread.start()
    try:
        return wait_for(lambda: (lambda r: r if r["status"] == "done" else None)(
            search_record(store, record["id"])), timeout=120, step=0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)


def test_a_finished_search_in_its_view_and_its_trials_analysed(app, client, store):
    import optuna.importance  # noqa: F401  (loaded once, as mltrack serve's driver has)

    record = run_search(store, trials=8)
    key = find_callback(app, "search-list.children")
    answer = client.post(CALLBACK_PATH, json=callback_body(
        app, key, {"search-selected.data": None}, ["tick.n_intervals"])).get_json()["response"]
    page = json.dumps(answer)
    assert "8 of 8 finished (8 done)" in page and "search-best-chart" in page
    assert record["best"]["iid"][:8] in page  # the best trial's link
    key = find_callback(app, "analysis-body.children")
    answer = client.post(CALLBACK_PATH, json=callback_body(
        app, key, {"analysis-scope.value": f"search:{record['id']}",
                   "analysis-metric.value": None}, ["analysis-scope.value"])
    ).get_json()["response"]
    assert answer["analysis-note"]["children"].startswith(
        f"8 done runs of search {record['id'][:8]}")
    assert answer["analysis-metric"]["value"] == "loss"  # the search's objective
    charts = [c["props"]["id"]["key"] for c in _graphs(answer["analysis-body"]["children"])]
    assert charts[:3] == ["importance", "best", "parallel"]
    assert sorted(charts[3:]) == ["slice-lr", "slice-x0"]


def _graphs(tree) -> list:
    """The dcc.Graph components of a callback's JSON answer."""
    if isinstance(tree, list):
        return [g for item in tree for g in _graphs(item)]
    if isinstance(tree, dict):
        if tree.get("type") == "Graph":
            return [tree]
        return _graphs(tree.get("props", {}).get("children"))
    return []


# -- in the browser -----------------------------------------------------------------------
def open_dashboard(dash_duo, url):
    dash_duo.driver.set_window_size(1280, 900)
    dash_duo.server_url = url
    dash_duo.wait_for_element("#jobs-grid")


def set_props(dash_duo, cid, props) -> None:
    dash_duo.driver.execute_script("dash_clientside.set_props(arguments[0], arguments[1]);",
                                   cid, props)


def dom_id(cid: dict) -> str:
    return json.dumps(cid, sort_keys=True, separators=(",", ":"))


def text_of(dash_duo, cid: dict) -> str | None:
    """The text of the element with a dict id (None while there is none)."""
    return dash_duo.driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;",
        dom_id(cid))


def test_a_search_started_from_the_form_shows_in_the_searches_view(dash_duo, live_app, store):
    store.register_task(QUADRATIC)
    open_dashboard(dash_duo, live_app)
    set_props(dash_duo, "form-task", {"value": "quadratic"})
    wait_for(lambda: text_of(dash_duo, {"type": "search-how", "task": "quadratic",
                                        "field": "lr"}) is not None)
    dash_duo.driver.find_element(By.CSS_SELECTOR, "#form-mode input[value='search']").click()
    dash_duo.wait_for_style_to_equal("#search-panel", "display", "block")
    key = {"task": "quadratic", "field": "lr"}
    set_props(dash_duo, {"type": "search-how", **key}, {"value": "range"})
    set_props(dash_duo, {"type": "search-low", **key}, {"value": "0.5"})
    set_props(dash_duo, {"type": "search-high", **key}, {"value": "0.01"})
    set_props(dash_duo, {"type": "param", "task": "quadratic", "field": "method",
                         "kind": "choice"}, {"value": ["gd", "momentum"]})
    set_props(dash_duo, {"type": "search-how", "task": "quadratic", "field": "method"},
              {"value": "choices"})
    set_props(dash_duo, "search-trials", {"value": "4"})
    dash_duo.find_element("#search-submit").click()
    # the bad range is said beside lr, and nothing was started
    error = {"type": "search-error", "field": "lr"}
    wait_for(lambda: "below its high" in (text_of(dash_duo, error) or ""))
    assert list_searches(store) == []
    set_props(dash_duo, {"type": "search-low", **key}, {"value": "0.001"})
    set_props(dash_duo, {"type": "search-high", **key}, {"value": "0.5"})
    dash_duo.find_element("#search-submit").click()
    dash_duo.wait_for_contains_text("#search-started", "Started search")
    (record,) = list_searches(store)
    assert record["trials"] == 4 and set(record["space"]) == {"lr", "method"}
    assert record["space"]["lr"] == {"low": 0.001, "high": 0.5, "log": True}
    wait_for(lambda: text_of(dash_duo, error) == "")
    # the searches view lists it and shows it: its progress and cancel
    dash_duo.wait_for_contains_text("#search-list", "quadratic")
    dash_duo.wait_for_contains_text("#search-list", "0/4")
    dash_duo.wait_for_contains_text("#search-progress-text", "of 4 finished")
    dash_duo.find_element("#search-cancel").click()
    dash_duo.wait_for_contains_text("#search-acted", "Cancelled search")
    assert search_record(store, record["id"])["status"] == "cancelled"


def test_the_analysis_panel_follows_the_tables_filter(dash_duo, live_app, store):
    import optuna.importance  # noqa: F401  (as mltrack serve's search driver has: seconds)

    for n in range(12):
        quadratic_run(store, {"lr": 0.02 * (n + 1), "x0": 1.0 + n % 3,
                              "method": "momentum" if n % 2 else "gd"})
    open_dashboard(dash_duo, live_app)
    dash_duo.wait_for_contains_text("#analysis-note", "12 done runs of task quadratic")

    def titles() -> list[str]:
        """The titles of the charts drawn so far (each chart draws on its own)."""
        return dash_duo.driver.execute_script(
            "return [...document.querySelectorAll('#analysis-body .js-plotly-plot')]"
            ".filter(g => g.layout && g.layout.title).map(g => g.layout.title.text);")

    wait_for(lambda: (lambda t: any("importance" in x for x in t) and any("Parallel" in x for x in t)
                      and "loss by lr" in t and "loss by method" in t)(titles()))
    # a text filter: the panel takes only the runs the table now shows
    dash_duo.find_element("#text-filter").send_keys("momentum")
    dash_duo.wait_for_contains_text("#analysis-note", "6 done runs of task quadratic matching")
    assert "loss by method" not in titles()
    # a status no run has: too few runs, said in words
    set_props(dash_duo, "status-filter", {"value": "failed"})
    dash_duo.wait_for_contains_text("#analysis-empty", "Too few runs")
    assert analysis_view.MAX_RUNS == 10_000
