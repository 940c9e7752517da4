"""The form's "already ran?" step in a real browser (chromium through dash_duo)."""
from __future__ import annotations

from selenium.webdriver.common.by import By

from helpers import wait_for
from mltrack.store import Status


def test_the_form_says_the_job_ran_with_its_result_and_a_link_and_asks(dash_duo, live_app,
                                                                        store):
    old = store.create({})  # the form's defaults, done with a result
    claim = store.claim("w")
    store.record_epoch(old, claim.attempt, {"epoch": 1, "time_training": 1.0,
                                            "train_loss": 0.1, "train_accuracy": 97.0,
                                            "test_loss": 0.05, "test_accuracy": 98.25})
    store.finish(old, claim.attempt, Status.DONE)
    dash_duo.driver.set_window_size(1280, 800)
    dash_duo.server_url = live_app
    dash_duo.wait_for_text_to_equal("#submit", "Queue 1 job")
    dash_duo.find_element("#submit").click()
    dash_duo.wait_for_contains_text("#submit-result", "This job exists already")
    text = dash_duo.find_element("#submit-result").text
    assert "done, test accuracy 98.25" in text and "Queue it again?" in text
    link = dash_duo.find_element("#already-ran a.run-link")
    assert link.get_attribute("href").endswith(f"/?q={old}&ticked={old}#runs")
    assert store.counts()["total"] == 1  # nothing queued while it asks
    buttons = {b.text: b for b in dash_duo.driver.find_elements(By.CSS_SELECTOR,
                                                                "#already-ran button")}
    buttons["Cancel"].click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Not queued.")
    assert store.counts()["total"] == 1
    dash_duo.find_element("#submit").click()
    wait_for(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#already-ran button"))
    next(b for b in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#already-ran button")
         if b.text == "Queue again").click()
    dash_duo.wait_for_text_to_equal("#submit-result", "Queued 1 mnist job.")
    assert store.counts()["total"] == 2 and store.counts()["waiting"] == 1
