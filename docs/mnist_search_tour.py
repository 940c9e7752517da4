"""Issue 12's must-show, as a new user would try it: a TPE search of 20 MLP
trials on MNIST over learning rate (log range), batch size (log range) and
optimizer (choices), median pruner, 2 at a time on `--workers 2`, started from
the form in headless chromium; watched; `kill -9` of mltrack when about half
the trials have finished, mltrack started again on the same data dir and port;
the search ends. Then, over the REST API: exactly 20 trials in
`/experiments?search=<id>`, the search `done`, at least one trial `pruned`.

Screenshots (1280x800) in docs/: mnist-search-form.png and mnist-search-settings.png (the
form's search mode: the space, then trials, sampler, pruner), mnist-search-progress.png (the search under way, before the kill),
mnist-search-restarted.png (the same page after the restart, the search going
on), mnist-search-done.png (the Searches view at its end),
mnist-search-importance.png and mnist-search-parallel.png (the analysis panel
over its trials: importance, best so far, parallel coordinates).

    PYTHONPATH=. python docs/mnist_search_tour.py [--mnist /tmp/mnistdata] [--epochs 4]

`--mnist`: a directory holding MNIST/raw/ (linked as the data dir's mnist/, so
nothing is downloaded). Needs chromium and chromedriver. Takes 5-15 minutes on
2 loaded cores; exits non-zero if a check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).parent))
from tour import browser, choose, type_into, wait_for, widget  # noqa: E402

DOCS = Path(__file__).parent
REPO = DOCS.parent
TRIALS = 20
NAME = "MLP: lr, batch size, optimizer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    """`python -m mltrack --workers 2` on `data_dir`; returns once it serves."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")])}
    seen = log.stat().st_size if log.exists() else 0  # an earlier start's lines before
    out = open(log, "a")  # a file, not a pipe: nobody has to drain it
    proc = subprocess.Popen([sys.executable, "-m", "mltrack", "--workers", "2",
                             "--port", str(port), "--data-dir", str(data_dir)],
                            env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    out.close()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mltrack exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if re.search(rf"dashboard at http://\S+:{port}/", log.read_bytes()[seen:].decode(errors="replace")):
            return proc
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("mltrack did not start in 180 s")


def children(pid: int) -> list[int]:
    """The processes `pid` started (its embedded database among them)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=30) as answer:
        return json.loads(answer.read())


def dom_id(cid: dict) -> str:
    return json.dumps(cid, sort_keys=True, separators=(",", ":"))


def set_props(driver, cid, props) -> None:
    """Set a dropdown's value as the page's own callbacks would (Dash's
    single-value dropdowns are fiddly to click through headless)."""
    driver.execute_script("dash_clientside.set_props(arguments[0], arguments[1]);", cid, props)


def scroll_to(driver, element_id: str) -> None:
    driver.execute_script("document.getElementById(arguments[0]).scrollIntoView();"
                          "window.scrollBy(0, -100);", element_id)
    time.sleep(0.8)


def wait_end(base: str, sid: str, log: Path, since: int, timeout: float = 1800) -> dict:
    """The search's record once it is no longer running. Fails fast when the
    restarted mltrack's search driver keeps failing without progress (seen:
    the driver and the analysis panel importing optuna for the first time at
    once left the process's optuna half-initialised, every tick failing with
    AttributeError: module 'optuna.pruners' has no attribute '_filter_study')."""
    deadline = time.monotonic() + timeout
    last, stalled = None, time.monotonic()
    while time.monotonic() < deadline:
        try:
            record = get(base, f"/searches/{sid}")
        except OSError:
            record = None
        if record and record["status"] != "running":
            return record
        if record and record["finished"] != last:
            last, stalled = record["finished"], time.monotonic()
        text = log.read_bytes()[since:].decode(errors="replace")
        failed = text.count("driver step failed")
        if failed >= 20 and time.monotonic() - stalled > 60:
            errors = re.findall(r"^\w*Error: .*$", text, re.M)
            raise SystemExit(f"the search is stuck at {last} finished: its driver failed "
                             f"{failed} times since the restart; first errors: "
                             f"{errors[:3]}; last: {errors[-1:]}")
        time.sleep(2)
    raise SystemExit(f"the search did not end in {timeout:.0f} s")


def header_text(driver) -> str:
    return " ".join(text_of(driver, "header-counts").split())


def progress_text(driver) -> str:
    return text_of(driver, "search-progress-text")


def text_of(driver, element_id: str) -> str:
    """An element's text, read in one go (the page redraws it every second: a
    found element may be replaced before its text is asked for)."""
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
        element_id)


def fill_form(driver, epochs: int) -> None:
    """The form, by its widgets: model mlp, optimizer adam and sgd (searched as
    choices), num_epochs; then the search mode's space and settings."""
    choose(driver, widget("model", "choice"), {"mlp"})
    choose(driver, widget("optimizer", "choice"), {"adam", "sgd"})
    type_into(driver, widget("num_epochs"), str(epochs))
    driver.find_element(By.CSS_SELECTOR, "#form-mode input[value='search']").click()
    wait_for(lambda: driver.find_element(By.ID, "search-panel").is_displayed(), timeout=30)
    for field, how in (("learning_rate", "range"), ("batch_size", "range"),
                       ("optimizer", "choices")):
        set_props(driver, {"type": "search-how", "task": "mnist", "field": field},
                  {"value": how})
    for field, low, high in (("learning_rate", "0.0001", "0.1"), ("batch_size", "32", "512")):
        key = {"task": "mnist", "field": field}
        box = f"[id='{dom_id({'type': 'search-low', **key})}']"
        wait_for(lambda: driver.find_element(By.CSS_SELECTOR, box).is_displayed(), timeout=30)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})",
                              driver.find_element(By.CSS_SELECTOR, box))
        type_into(driver, box, low)
        type_into(driver, f"[id='{dom_id({'type': 'search-high', **key})}']", high)
        log = driver.find_element(
            By.CSS_SELECTOR, f"[id='{dom_id({'type': 'search-log', **key})}'] input")
        if not log.is_selected():  # both are log parameters: ticked already
            log.click()
    type_into(driver, "#search-trials", str(TRIALS))
    type_into(driver, "#search-parallel", "2")
    set_props(driver, "search-sampler", {"value": "tpe"})
    set_props(driver, "search-pruner", {"value": "median"})
    type_into(driver, "#search-name", NAME)
    time.sleep(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=Path("/tmp/mnistdata"),
                        help="a directory with MNIST/raw/ (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=4, help="num_epochs of every trial")
    parser.add_argument("--kill-at", type=int, default=TRIALS // 2,
                        help="kill -9 mltrack once this many trials have finished")
    parser.add_argument("--away", type=float, default=0,
                        help="leave the page before the kill and come back this many seconds "
                             "after the restart (default: the page stays open, as a user's "
                             "would; see the optuna import race in wait_end)")
    args = parser.parse_args()
    began = time.monotonic()
    kills = 0
    procs: list[subprocess.Popen] = []
    databases: list[int] = []
    driver = None
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        (data_dir / "mnist").symlink_to(args.mnist.resolve())
        log = Path(tmp) / "mltrack.log"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        try:
            proc = start(data_dir, port, log)
            procs.append(proc)
            print(f"mltrack pid {proc.pid} at {base}/ (data dir {data_dir})")
            driver = browser()
            driver.get(base + "/")
            wait_for(lambda: driver.find_element(By.ID, "jobs-grid"), timeout=120)

            print(f"1. the form in search mode: {TRIALS} TPE trials, median pruner, 2 at once")
            fill_form(driver, args.epochs)
            driver.execute_script("document.getElementById('search-panel').scrollIntoView();")
            time.sleep(0.5)
            driver.save_screenshot(str(DOCS / "mnist-search-form.png"))
            trials_box = driver.find_element(By.ID, "search-trials")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", trials_box)
            time.sleep(0.5)
            driver.save_screenshot(str(DOCS / "mnist-search-settings.png"))
            driver.find_element(By.ID, "search-submit").click()
            wait_for(lambda: "Started search" in text_of(driver, "search-started"), timeout=60)
            print("   ", text_of(driver, "search-started"))
            search = get(base, "/searches")["searches"][0]
            sid = search["id"]
            print(f"    search {sid}: space {json.dumps(search['space'])}, "
                  f"fixed {json.dumps(search['fixed'])}, sampler {search['sampler']}, "
                  f"pruner {search['pruner']}, parallel {search['parallel']}")
            assert search["trials"] == TRIALS and search["sampler"] == "tpe", search
            assert search["pruner"] == "median" and search["parallel"] == 2, search
            assert set(search["space"]) == {"learning_rate", "batch_size", "optimizer"}, search
            assert search["fixed"].get("model") == "mlp", search

            print("2. watch it")
            driver.find_element(By.ID, "tab-searches").click()
            time.sleep(1)
            shot = False
            while True:
                record = get(base, f"/searches/{sid}")
                # before the kill, once the pruner has had its say (it waits for 5)
                if not shot and record["finished"] >= 5 and (
                        record["pruned"] >= 1 or record["finished"] >= args.kill_at - 1):
                    scroll_to(driver, "searches")
                    print("   ", progress_text(driver))
                    driver.save_screenshot(str(DOCS / "mnist-search-progress.png"))
                    shot = True
                if record["finished"] >= args.kill_at:
                    break
                assert record["status"] == "running", record
                time.sleep(1)
            print(f"3. kill -9 mltrack (pid {proc.pid}) with {record['finished']} of "
                  f"{TRIALS} finished, {record['running']} running, {record['pruned']} pruned")
            databases = [p for p in children(proc.pid)]
            if args.away:
                driver.get("about:blank")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            kills += 1
            time.sleep(2)
            since = log.stat().st_size
            proc = start(data_dir, port, log)
            procs.append(proc)
            print(f"    started again: pid {proc.pid}, same data dir and port")
            if args.away:
                time.sleep(args.away)
            driver.get(base + "/")
            wait_for(lambda: driver.find_element(By.ID, "jobs-grid"), timeout=120)
            driver.find_element(By.ID, "tab-searches").click()
            wait_for(lambda: "of 20 finished" in progress_text(driver), timeout=120)
            time.sleep(10)  # the new driver picks the search up, the lost trials come back
            scroll_to(driver, "searches")
            print("   ", progress_text(driver))
            driver.save_screenshot(str(DOCS / "mnist-search-restarted.png"))

            print("4. the search ends")
            record = wait_end(base, sid, log, since)
            wait_for(lambda: f"{TRIALS} of {TRIALS} finished" in progress_text(driver),
                     timeout=60)
            time.sleep(2)
            scroll_to(driver, "searches")
            print("   ", progress_text(driver))
            driver.save_screenshot(str(DOCS / "mnist-search-done.png"))

            header = header_text(driver)
            print("    header:", header)

            print("5. the checks, over the REST API")
            listing = get(base, f"/experiments?search={sid}&limit=100")
            trials = listing["results"]
            statuses = [t["status"] for t in trials]
            counts = {s: statuses.count(s) for s in sorted(set(statuses))}
            print(f"    /experiments?search=: {len(trials)} trials (total {listing['total']}), "
                  f"{counts}; search status {record['status']}")
            print(f"    /searches/<id>: finished {record['finished']}, pruned "
                  f"{record['pruned']}, failed {record['failed']}, best {record['best']}")
            numbers = sorted(t.get("trial") for t in trials)
            print(f"    trial numbers: {numbers}")
            for t in sorted(trials, key=lambda t: t.get("trial") or 0):
                hp = t["hyper_params"]
                acc = t.get("test_accuracy")
                print(f"      trial {t.get('trial'):>2} {t['status']:<9} attempts "
                      f"{t.get('attempts')} epochs "
                      f"{t.get('epochs_done')}  lr {hp['learning_rate']:.2e}  batch "
                      f"{hp['batch_size']:>3}  {hp['optimizer']:<5} test acc {acc}")
            # the page's header chips against the store (all of this data dir's jobs are trials)
            shown = {word: int(n) for n, word in re.findall(
                r"(\d+) (waiting|running|done|failed|cancelled|pruned)", header)}
            stale = {k: v for k, v in shown.items() if v != counts.get(k, 0)}
            if stale:
                print(f"    NOTE: the header says {header!r} at the end, the store {counts}")
                driver.find_element(By.ID, "tab-table").click()
                time.sleep(6)
                print("    header, the table in view, 6 s later:", header_text(driver))
                driver.get(base + "/")
                wait_for(lambda: re.search(r"\d+ done", header_text(driver)), timeout=60)
                time.sleep(3)
                print("    header after a reload:", header_text(driver))
                driver.find_element(By.ID, "tab-searches").click()
                time.sleep(1)
            failures = []
            if len(trials) != TRIALS or listing["total"] != TRIALS:
                failures.append(f"{len(trials)} trials, not {TRIALS}")
            if record["status"] != "done":
                failures.append(f"search status {record['status']}, not done")
            if counts.get("pruned", 0) < 1:
                failures.append("no trial pruned")

            print("6. which hyperparameters mattered")
            driver.find_element(By.ID, "search-analyse").click()
            wait_for(lambda: NAME in text_of(driver, "analysis-note"),
                     timeout=120)
            wait_for(lambda: len(driver.find_elements(
                By.CSS_SELECTOR, "#analysis-body .js-plotly-plot")) >= 3, timeout=120)
            time.sleep(1.5)
            print("   ", text_of(driver, "analysis-note"))
            driver.find_element(By.ID, "tab-analysis").click()
            time.sleep(1)
            scroll_to(driver, "analysis")
            driver.save_screenshot(str(DOCS / "mnist-search-importance.png"))
            parallel = driver.find_element(By.CSS_SELECTOR, "[id*='parallel'] .js-plotly-plot")
            driver.execute_script("arguments[0].scrollIntoView(); window.scrollBy(0, -90);",
                                  parallel)
            time.sleep(1)
            driver.save_screenshot(str(DOCS / "mnist-search-parallel.png"))

            best = record["best"] or {}
            done = counts.get("done", 0)
            print(f"\nSummary: {len(trials)} trials: {done} done, {counts.get('pruned', 0)} "
                  f"pruned, {counts.get('failed', 0)} failed, "
                  f"{counts.get('cancelled', 0)} cancelled; best test accuracy "
                  f"{best.get('value')} ({json.dumps(best.get('hyper_params', {}))}); "
                  f"wall time {time.monotonic() - began:.0f} s; kills (kill -9): {kills}")
            severe = [e["message"][:300] for e in driver.get_log("browser")
                      if e.get("level") == "SEVERE"]
            if severe:
                print(f"    the browser's console ({len(severe)} errors, the last ones):")
                for line in severe[-5:]:
                    print("     ", line)
            if failures:
                print("FAILED:", "; ".join(failures))
                return 1
            print("screenshots: docs/mnist-search-{form,settings,progress,restarted,done,importance,"
                  "parallel}.png")
            return 0
        finally:
            if driver is not None:
                driver.quit()
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(60)
                    except subprocess.TimeoutExpired:
                        p.kill()
            for pid in databases:  # the killed mltrack's database, if its successor left it
                try:
                    if b"valkey" not in Path(f"/proc/{pid}/cmdline").read_bytes() and \
                            b"redis" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, FileNotFoundError):
                    pass
            print(f"mltrack log: {log} (last lines)\n" + "\n".join(
                log.read_text().splitlines()[-15:]) if log.exists() else "")


if __name__ == "__main__":
    sys.exit(main())
