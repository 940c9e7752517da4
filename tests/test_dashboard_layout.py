"""The page at 1280x800 in a real browser (chromium through dash_duo): the run
view one click away, the form's submit always in view and never twice, labels
and slider marks, the slider with a list, a sweep mixing optimizers (issue 10,
item 10)."""
from __future__ import annotations

import time

from selenium.webdriver.common.keys import Keys

from helpers import wait_for
from mltrack.store import Status
from test_dashboard import (field_error, finished_job, open_dashboard, param, select_row,
                            slider, type_into, value)


def rect(dash_duo, selector: str) -> dict:
    return dash_duo.driver.execute_script(
        "const b = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {top: b.top, bottom: b.bottom, left: b.left, right: b.right};", selector)


def viewport_height(dash_duo) -> int:
    return dash_duo.driver.execute_script("return window.innerHeight;")


def on_top(dash_duo, selector: str) -> bool:
    """The element is in the window and nothing covers its middle."""
    return dash_duo.driver.execute_script("""
        const e = document.querySelector(arguments[0]), b = e.getBoundingClientRect();
        if (b.bottom > window.innerHeight || b.top < 0) { return false; }
        const hit = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2);
        return !!hit && (hit === e || e.contains(hit));""", selector)


def test_the_run_view_is_one_click_away(dash_duo, live_app, store):
    iid = finished_job(store, 97.0, 10.0, epochs=2, model="mlp")
    open_dashboard(dash_duo, live_app)
    select_row(dash_duo, iid)
    dash_duo.wait_for_text_to_equal("#tab-runs", "Runs · 1")
    dash_duo.find_element("#tab-runs").click()
    height = viewport_height(dash_duo)
    wait_for(lambda: 0 <= rect(dash_duo, "#runs")["top"] < height / 4)
    assert rect(dash_duo, "#run-graphs")["top"] < height / 2  # the charts, not the table
    assert on_top(dash_duo, "#tab-table")  # and back in one click
    dash_duo.find_element("#tab-table").click()
    wait_for(lambda: 0 <= rect(dash_duo, "#experiments")["top"] < height / 4)


def test_the_submit_button_and_its_answer_stay_in_view(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    for end in ("0", "1e6"):  # the form scrolled to its top, then to its bottom
        dash_duo.driver.execute_script(
            f"document.querySelector('.form-card').scrollTop = {end};")
        assert on_top(dash_duo, "#submit"), end
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 mnist job.")
    assert on_top(dash_duo, "#submit-result")


def test_a_form_is_queued_once_until_it_changes(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    type_into(dash_duo, param("mnist", "seed"), "1, 2")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 2 jobs")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 2 mnist jobs.")
    dash_duo.wait_for_text_to_equal("#submit", "Queued 2 jobs ✓")
    # a second click (and a quick double click) queue nothing more
    assert dash_duo.find_element("#submit").get_attribute("disabled") == "true"
    dash_duo.driver.execute_script("document.querySelector('#submit').click();")  # again
    time.sleep(1.5)  # the time a second submit takes to land
    assert store.counts()["total"] == 2
    type_into(dash_duo, param("mnist", "seed"), "3")  # a new form: it may go again
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 mnist job.")
    assert sorted(j.hyper_params["seed"] for j in store.list_jobs().jobs) == [1, 2, 3]


def test_labels_line_up_and_slider_marks_are_whole(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    dash_duo.wait_for_element(slider("mnist", "learning_rate"))
    rows = dash_duo.driver.execute_script("""
        const rows = {};
        document.querySelectorAll('#form-fields > .field').forEach(f => {
            const label = f.querySelector('.field-label').getBoundingClientRect();
            const box = f.querySelector('.field-label').nextElementSibling.getBoundingClientRect();
            (rows[Math.round(label.top)] = rows[Math.round(label.top)] || []).push(
                [f.id, Math.round(box.top)]);
        });
        return Object.values(rows);""")
    assert any(len(r) == 2 for r in rows), rows  # fields side by side
    for row in rows:
        assert len({top for _, top in row}) == 1, row  # their boxes start together
    card = rect(dash_duo, ".form-card")
    marks = dash_duo.driver.execute_script("""
        return [...document.querySelectorAll('.form-card .dash-slider-mark')].map(m => {
            const b = m.getBoundingClientRect(); return [m.innerText, b.left, b.right]; });""")
    assert len(marks) >= 5
    for text, left, right in marks:
        assert card["left"] + 1 <= left and right <= card["right"] - 1, (text, left, right, card)
    assert dash_duo.driver.execute_script(
        "const c = document.querySelector('.form-card'); return c.scrollWidth <= c.clientWidth;")


def test_the_slider_follows_the_last_value_of_a_list(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    lr = param("mnist", "learning_rate")
    handle = dash_duo.find_element(slider("mnist", "learning_rate") + " [role='slider']")
    type_into(dash_duo, lr, "0.1, 0.01")
    wait_for(lambda: handle.get_attribute("aria-valuenow") == "-2")
    handle.send_keys(Keys.ARROW_LEFT)  # moves the value being typed, keeps the sweep
    wait_for(lambda: value(dash_duo, lr) == "0.1, 0.0079")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 2 jobs")


def test_momentum_in_a_sweep_over_optimizers_goes_where_it_means_something(dash_duo, live_app,
                                                                            store):
    from test_dashboard import choose
    open_dashboard(dash_duo, live_app)
    choose(dash_duo, param("mnist", "optimizer"), "sgd")  # adam and sgd
    type_into(dash_duo, param("mnist", "momentum"), "0.5, 0.9")
    dash_duo.wait_for_contains_text("#sweep-preview", "This will queue 3 jobs")
    dash_duo.wait_for_text_to_equal("#submit", "Queue 3 jobs")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 3 mnist jobs.")
    assert sorted((j.hyper_params["optimizer"], j.hyper_params["momentum"])
                  for j in store.list_jobs().jobs) == [("adam", 0.0), ("sgd", 0.5), ("sgd", 0.9)]


def test_every_bad_field_is_explained_at_once_in_words(dash_duo, live_app, store):
    open_dashboard(dash_duo, live_app)
    type_into(dash_duo, param("mnist", "learning_rate"), "20")
    type_into(dash_duo, param("mnist", "batch_size"), "0")
    dash_duo.wait_for_text_to_equal(field_error("learning_rate"),
                                    "learning rate must be above 0 and at most 10, not 20")
    dash_duo.wait_for_text_to_equal(field_error("batch_size"),
                                    "batch size must be a whole number from 1 to 8192, not 0")
    assert dash_duo.find_element("#submit").get_attribute("disabled") == "true"
    # beside the button (always in view), which fields are wrong
    dash_duo.wait_for_text_to_equal(
        "#form-error", "Fix 2 fields first: learning rate, batch size (see their messages above).")
    assert store.counts()["total"] == 0 and Status  # nothing queued
