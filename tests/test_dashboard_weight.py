"""The page's weight (issue 10, item 11): answers compressed as the browser asks,
the page's fingerprinted static files kept by the browser for a year."""
from __future__ import annotations

import gzip
import json
import re

from helpers import wait_for
from mltrack.params import HyperParams
from test_dashboard import grid_rows, open_dashboard


def page_files(client) -> list[str]:
    html = client.get("/").get_data(as_text=True)
    return [a or b for a, b in re.findall(r'src="([^"]+)"|href="([^"]+\.css[^"]*)"', html)]


def test_scripts_and_json_are_compressed_when_asked(client, store):
    for n in range(30):
        store.create(HyperParams(seed=n))
    grid = next(u for u in page_files(client) if "dash_ag_grid.v" in u)
    plain = client.get(grid)
    packed = client.get(grid, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 3
    assert "Content-Encoding" not in plain.headers  # only when asked
    page = client.get("/", headers={"Accept-Encoding": "br, gzip"})
    assert page.headers["Content-Encoding"] == "br" and "Accept-Encoding" in page.headers["Vary"]
    listing = client.get("/experiments?limit=30", headers={"Accept-Encoding": "gzip"})
    assert listing.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(listing.data))["results"]) == 30


def test_fingerprinted_files_are_cached_for_a_year(client, store):
    files = page_files(client)
    assets = [u for u in files if u.startswith("/assets/")]
    suites = [u for u in files if u.startswith("/_dash-component-suites/")]
    assert assets and suites
    for url in assets + suites:
        r = client.get(url)
        assert r.status_code == 200 and r.cache_control.max_age >= 365 * 24 * 3600, url
    bare = client.get(assets[0].split("?")[0])  # no fingerprint: it may change, revalidated
    assert bare.status_code == 200 and not bare.cache_control.max_age


def test_the_browser_gets_the_page_compressed(dash_duo, live_app, store):
    store.create(HyperParams())
    open_dashboard(dash_duo, live_app)
    wait_for(lambda: grid_rows(dash_duo))
    sizes = dash_duo.driver.execute_script("""
        return performance.getEntriesByType('resource')
            .filter(e => e.name.includes('dash_ag_grid.v'))
            .map(e => [e.transferSize, e.decodedBodySize]);""")
    assert sizes, "the grid's script was not loaded"
    transfer, decoded = sizes[0]
    assert 0 < transfer < decoded / 3, sizes
