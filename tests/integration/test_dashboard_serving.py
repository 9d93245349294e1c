"""The console's files as a browser meets them: "/" is index.html (revalidated every time), every
other file lives under /ui/<tag>/ (a year's immutable cache under the build's tag), strong ETags
answered 304, gzip when accepted, the strict CSP on every answer, 405 for writes, 404 for what
is not there, [server] ui_dir serving web/ for development — and none of it in the API's way."""

import gzip
import re
import shutil
import subprocess

import pytest
import requests

from conftest import ROOT, assert_problem

WEB = ROOT / "web"
VENDOR = ["vendor/preact.mjs", "vendor/hooks.mjs", "vendor/htm.mjs", "vendor/uplot.mjs",
          "vendor/uplot.css"]
BUNDLE_MAX = 300 * 1024  # bytes, compressed


def console_files():
    """Every file the console ships: web/ but web/vendor, plus the vendored libraries."""
    own = sorted(str(p.relative_to(WEB)) for p in WEB.rglob("*")
                 if p.is_file() and p.relative_to(WEB).parts[0] != "vendor")
    return own + VENDOR


def tag_of(d):
    r = requests.get(d.url + "/")
    m = re.search(r'/ui/([0-9a-f]+)/app\.js', r.text)
    assert m, r.text
    return m.group(1)


def test_index_is_served_with_csp_etag_and_no_cache(daemon):
    r = requests.get(daemon.url + "/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Cache-Control"] == "no-cache"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert re.fullmatch(r'"[0-9a-f]{20}(-gz)?"', r.headers["ETag"])
    assert "@TAG@" not in r.text and "<script" in r.text
    # no inline script or style, no inline handlers: the CSP would refuse them
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text)
    assert not re.search(r"\son[a-z]+=|\sstyle=|<style", r.text)
    assert requests.get(daemon.url + "/index.html").text == r.text


def test_a_matching_etag_is_answered_304_without_a_body(daemon):
    r = requests.get(daemon.url + "/")
    again = requests.get(daemon.url + "/", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == r.headers["ETag"]
    other = requests.get(daemon.url + "/", headers={"If-None-Match": '"0000"'})
    assert other.status_code == 200 and other.content == r.content


def test_tagged_files_are_immutable_and_gzipped_when_accepted(daemon):
    tag = tag_of(daemon)
    url = f"{daemon.url}/ui/{tag}/vendor/uplot.mjs"
    plain = requests.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["Content-Type"].startswith("text/javascript")
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert plain.headers["Vary"] == "Accept-Encoding"
    raw = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True).raw
    body = raw.read(decode_content=False)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert len(body) < len(plain.content) / 2
    assert gzip.decompress(body) == plain.content
    # the gzip copy is another representation with an ETag of its own; either revalidates
    assert raw.headers["ETag"] == plain.headers["ETag"][:-1] + '-gz"'
    for etag in (plain.headers["ETag"], raw.headers["ETag"]):
        assert requests.get(url, headers={"If-None-Match": etag}).status_code == 304
    # another tag (a page loaded before an upgrade) still gets the file, revalidated
    old = requests.get(f"{daemon.url}/ui/0123456789ab/vendor/uplot.mjs")
    assert old.status_code == 200 and old.headers["Cache-Control"] == "no-cache"


@pytest.mark.skipif(not shutil.which("zstd"), reason="the zstd command checks the copy")
def test_zstd_is_preferred_when_accepted(daemon):
    url = f"{daemon.url}/ui/{tag_of(daemon)}/vendor/uplot.mjs"
    plain = requests.get(url, headers={"Accept-Encoding": "identity"}).content
    gz = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True).raw.read(decode_content=False)
    for _ in range(2):  # the copy made by the first request is the one the second gets
        raw = requests.get(url, headers={"Accept-Encoding": "gzip, zstd"}, stream=True).raw
        body = raw.read(decode_content=False)
        assert raw.headers["Content-Encoding"] == "zstd"
        assert raw.headers["ETag"].endswith('-zst"')
        assert len(body) < len(gz)
        out = subprocess.run(["zstd", "-dc"], input=body, capture_output=True, check=True).stdout
        assert out == plain
    assert requests.get(url, headers={"If-None-Match": raw.headers["ETag"],
                                      "Accept-Encoding": "zstd"}).status_code == 304
    refused = requests.get(url, headers={"Accept-Encoding": "gzip, zstd;q=0"}, stream=True).raw
    assert refused.headers["Content-Encoding"] == "gzip"


def test_writes_are_405_and_unknown_files_404(daemon):
    r = requests.post(daemon.url + "/", data="x")
    assert_problem(r, 405)
    assert r.headers["Allow"] == "GET, HEAD"
    assert_problem(requests.delete(f"{daemon.url}/ui/{tag_of(daemon)}/app.js"), 405)
    for path in ["/ui/x/no-such.js", "/ui/x/.hidden", "/ui/x/%2e%2e/conftest.py", "/ui/x/",
                 "/ui/x/pages//agents.js"]:
        assert_problem(requests.get(daemon.url + path), 404)
    head = requests.head(daemon.url + "/")
    assert head.status_code == 200 and head.content == b""


def test_the_api_keeps_its_paths(daemon):
    assert requests.get(daemon.url + "/healthz").json() == {"status": "ok"}
    r = requests.get(daemon.url + "/api/v1/agents")
    assert r.status_code == 401  # the registry's answer, not a file
    assert_problem(requests.get(daemon.url + "/uix"), 404)


def test_every_file_is_served_and_the_bundle_stays_small(daemon):
    tag = tag_of(daemon)
    total = 0
    for rel in console_files():
        raw = requests.get(f"{daemon.url}/ui/{tag}/{rel}", headers={"Accept-Encoding": "gzip"},
                           stream=True).raw
        assert raw.status == 200, rel
        total += len(raw.read(decode_content=False))
    assert total < BUNDLE_MAX, f"the console is {total} bytes compressed"


def test_ui_dir_serves_the_working_tree(make_daemon, tmp_path):
    web = tmp_path / "web"
    (web / "pages").mkdir(parents=True)
    (web / "index.html").write_text('<script type="module" src="/ui/@TAG@/app.js"></script>')
    (web / "pages" / "x.js").write_text("export default 1;\n")
    d = make_daemon(args=["--set", f"server.ui_dir={web}"])
    r = requests.get(d.url + "/")
    assert r.text == '<script type="module" src="/ui/dev/app.js"></script>'
    assert r.headers["Cache-Control"] == "no-cache"
    f = requests.get(d.url + "/ui/dev/pages/x.js")
    assert f.text == "export default 1;\n" and f.headers["Content-Type"].startswith("text/javascript")
    assert requests.get(d.url + "/ui/dev/pages/x.js",
                        headers={"If-None-Match": f.headers["ETag"]}).status_code == 304
    (web / "pages" / "x.js").write_text("export default 2;\n")
    assert requests.get(d.url + "/ui/dev/pages/x.js").text == "export default 2;\n"
    # what the directory lacks (the vendored libraries) comes from the binary
    assert requests.get(d.url + "/ui/dev/vendor/preact.mjs").status_code == 200
