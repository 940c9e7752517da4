"""Page weight and time to the first table row, measured in the browser.

Serves the dashboard of two checkouts side by side, each with its own jobs in
one embedded valkey: the baseline (by default commit eb9f21b, checked out in a
temporary git worktree) and this checkout. For each, headless chromium loads
the page `--repeat` times with an empty cache (a fresh browser) and once more
warm (the same browser, loading again), over an emulated network (`--mbps`
down, `--rtt` ms round trip; 0 for none), and reads the Performance API:
bytes over the wire (transferSize), bytes once decoded, and the time from
navigation start to the first row of the table with its data. Weight counts
the page and every file it loads (plotly.js too, which the charts load after
the table), not the callbacks' answers that follow every 1.5 s. Prints medians
and the ratio of this checkout to the baseline.

    python benchmarks/page_weight.py [--baseline eb9f21b] [--repeat 5] [--mbps 20]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Run in a child Python whose path starts with a checkout: seed jobs, serve, print the port.
SERVE = r"""
import sys, threading, waitress
sys.path.insert(0, sys.argv[1])
import redis
from mltrack.app import create_app
from mltrack.params import HyperParams
from mltrack.store import Status, Store
store = Store(redis.Redis.from_url(sys.argv[2], decode_responses=True), prefix=sys.argv[3])
for n in range(int(sys.argv[4])):
    iid = store.create(HyperParams(seed=n, num_epochs=2))
    claim = store.claim("bench")
    for epoch in (1, 2):
        store.record_epoch(iid, claim.attempt, {"epoch": epoch, "train_loss": 0.1,
            "train_accuracy": 90.0 + n % 9, "test_loss": 0.2, "test_accuracy": 89.0 + n % 9,
            "time_training": 1.0 * epoch})
    store.finish(iid, claim.attempt, Status.DONE)
server = waitress.create_server(create_app(store), host="127.0.0.1", port=0, threads=8)
print(server.effective_port, flush=True)
server.run()
"""

# Installed before the page's own scripts: when the first row shows its data.
FIRST_ROW = """
window.__firstRow = null;
new MutationObserver((_, observer) => {
  const cell = document.querySelector("#jobs-grid .ag-row[row-id] .ag-cell[col-id='status']");
  if (cell && cell.innerText.trim()) { window.__firstRow = performance.now(); observer.disconnect(); }
}).observe(document, {childList: true, subtree: true, characterData: true});
"""

WEIGHT = """
const nav = performance.getEntriesByType('navigation')[0];
// the page and its files; the callbacks' answers (every 1.5 s) are not page weight
const all = [nav, ...performance.getEntriesByType('resource')
                         .filter(e => !e.name.includes('_dash-update-component'))];
return {transfer: all.reduce((s, e) => s + (e.transferSize || 0), 0),
        decoded: all.reduce((s, e) => s + (e.decodedBodySize || 0), 0),
        requests: all.length, first_row: window.__firstRow};
"""


def browser(mbps: float, rtt: float):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,800", f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FIRST_ROW})
    driver.execute_cdp_cmd("Network.enable", {})
    if mbps:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": rtt, "downloadThroughput": mbps * 1e6 / 8,
            "uploadThroughput": mbps * 1e6 / 8})
    return driver


def load(driver, url: str) -> dict:
    driver.get(url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = driver.execute_script(WEIGHT)
        if got["first_row"] is not None:
            return settled(driver)
        time.sleep(0.05)
    raise RuntimeError(f"no table row at {url} within 120 s")


def settled(driver) -> dict:
    """The page's weight once it has loaded everything it loads (the charts' plotly.js
    comes after the table): no new request for 2 s."""
    got, quiet_since = driver.execute_script(WEIGHT), time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() - quiet_since < 2.0 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = driver.execute_script(WEIGHT)
        if now["requests"] != got["requests"] or now["transfer"] != got["transfer"]:
            got, quiet_since = now, time.monotonic()
    return got


def serve(tree: Path, redis_url: str, prefix: str, jobs: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    child = subprocess.Popen([sys.executable, "-c", SERVE, str(tree), redis_url, prefix,
                              str(jobs)], stdout=subprocess.PIPE, text=True, env=env)
    port = child.stdout.readline().strip()
    if not port:
        raise RuntimeError(f"the server of {tree} did not start")
    return child, f"http://127.0.0.1:{port}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="eb9f21b", help="commit to compare with")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--mbps", type=float, default=20.0, help="emulated download, Mbit/s")
    parser.add_argument("--rtt", type=float, default=20.0, help="emulated round trip, ms")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from mltrack.embedded import EmbeddedRedis

    old = Path(tempfile.mkdtemp()) / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old),
                    args.baseline], check=True, capture_output=True)
    children = []
    try:
        with EmbeddedRedis(Path(tempfile.mkdtemp())) as db:
            sites = {}
            for name, tree in ((f"baseline {args.baseline}", old), ("this checkout", REPO)):
                child, url = serve(tree, db.url, f"bench-{len(sites)}:", args.jobs)
                children.append(child)
                sites[name] = url
            results: dict[str, dict[str, list[float]]] = {n: {} for n in sites}
            for _ in range(args.repeat):
                for name, url in sites.items():  # alternated, so drift hits both alike
                    driver = browser(args.mbps, args.rtt)
                    try:
                        cold = load(driver, url)
                        warm = load(driver, url)
                    finally:
                        driver.quit()
                    for key, value in (("cold KB", cold["transfer"] / 1024),
                                       ("decoded KB", cold["decoded"] / 1024),
                                       ("cold first row ms", cold["first_row"]),
                                       ("warm KB", warm["transfer"] / 1024),
                                       ("warm first row ms", warm["first_row"]),
                                       ("requests", cold["requests"])):
                        results[name].setdefault(key, []).append(value)
    finally:
        for child in children:
            child.terminate()
            child.wait(10)
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)],
                       capture_output=True)

    keys = list(next(iter(results.values())))
    network = f"{args.mbps:g} Mbit/s, {args.rtt:g} ms RTT" if args.mbps else "no throttling"
    print(f"\npage weight and first data, {args.jobs} jobs, median of {args.repeat} "
          f"loads ({network}), headless chromium at 1280x800")
    names = list(results)
    print(f"{'':<20}" + "".join(f"{n:>22}" for n in names) + f"{'ratio':>9}")
    for key in keys:
        medians = [statistics.median(results[n][key]) for n in names]
        ratio = medians[1] / medians[0] if medians[0] else float("nan")
        print(f"{key:<20}" + "".join(f"{m:>22,.1f}" for m in medians) + f"{ratio:>9.2f}")
    print(json.dumps({n: {k: statistics.median(v) for k, v in r.items()}
                      for n, r in results.items()}))


if __name__ == "__main__":
    main()
