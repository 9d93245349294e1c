"""The API explorer at /api/docs: Swagger UI (swagger-ui-dist, pinned in web/vendor and compiled
into the binary) over /openapi.json, under the console's strict Content-Security-Policy: no
inline script or style, every asset from the binary. The browser check runs the page in
chromium (tests/e2e/api_docs.mjs) and fails on any console error."""

import re

import requests

from test_dashboard_e2e import CHROMIUM, NODE, PLAYWRIGHT, run_scenario

import pytest
from pathlib import Path


def test_api_docs_page_and_assets(daemon):
    r = requests.get(daemon.url + "/api/docs")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "@TAG@" not in r.text
    # every script is a file; no inline script, handler or style the CSP would refuse
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text)
    assert not re.search(r"\son[a-z]+=|\sstyle=|<style", r.text)
    assets = re.findall(r'(?:src|href)="(/ui/[0-9a-f]+/[^"]+)"', r.text)
    assert len(assets) == 4, assets
    types = {".js": "text/javascript", ".css": "text/css"}
    for a in assets:
        got = requests.get(daemon.url + a, headers={"Accept-Encoding": "gzip"})
        assert got.status_code == 200, a
        assert got.headers["Content-Type"].startswith(types[Path(a).suffix]), a
        assert got.headers["Cache-Control"].endswith("immutable"), a
    bundle = next(a for a in assets if a.endswith("swagger-ui-bundle.js"))
    assert "SwaggerUIBundle" in requests.get(daemon.url + bundle).text
    init = requests.get(daemon.url + next(a for a in assets if a.endswith("api-docs.js"))).text
    assert "'/openapi.json'" in init and "SwaggerUIBundle" in init
    # the document it shows is the registry's, and the page is not an API endpoint
    assert daemon.get("/openapi.json").status_code == 200
    assert requests.post(daemon.url + "/api/docs").status_code == 405


@pytest.mark.skipif(not (Path(CHROMIUM).is_file() and PLAYWRIGHT.is_dir() and NODE),
                    reason="the browser check needs chromium, node and web/vendor/node_modules")
def test_api_docs_renders_operations_in_a_browser(daemon, tmp_path, bin):
    run_scenario(daemon, "api_docs", tmp_path, bin, timeout=90)
    assert (tmp_path / "api-docs.png").stat().st_size > 1000
