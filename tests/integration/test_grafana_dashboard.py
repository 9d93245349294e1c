"""contrib/grafana/ganglion.json: every metric its panels and variables query is one the daemon
exports, so the dashboard cannot silently show "No data" after a rename."""

import json
import re

import gws
import watch_util

from conftest import ROOT

DASHBOARD = ROOT / "contrib" / "grafana" / "ganglion.json"
NAME = re.compile(r"\bganglion_[a-zA-Z0-9_:]*")
# The series a histogram exports beside its family name (Prometheus text format 0.0.4).
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SUMMARY_SUFFIXES = ("_sum", "_count")


def _expressions(dash):
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            yield panel["title"], t["expr"]
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            yield "variable " + var["name"], var["query"]


def _exported(name, fams):
    """True when `name` is a series ganglion exports: a family, or a histogram's (summary's)
    _bucket/_sum/_count series whose base is a family of that type."""
    if name in fams and fams[name].type not in ("histogram", "summary"):
        return True
    for suffixes, kind in ((HISTOGRAM_SUFFIXES, "histogram"), (SUMMARY_SUFFIXES, "summary")):
        for suf in suffixes:
            base = name[: -len(suf)]
            if name.endswith(suf) and base in fams and fams[base].type == kind:
                return True
    return False


def test_suffix_rule():
    class F:
        def __init__(self, t):
            self.type = t

    fams = {"ganglion_h": F("histogram"), "ganglion_c_total": F("counter"), "ganglion_s": F("summary")}
    assert _exported("ganglion_h_bucket", fams) and _exported("ganglion_h_count", fams)
    assert not _exported("ganglion_h", fams)  # a histogram is queried through its series
    assert not _exported("ganglion_c_total_bucket", fams)
    assert not _exported("ganglion_s_bucket", fams) and _exported("ganglion_s_sum", fams)
    assert _exported("ganglion_c_total", fams) and not _exported("ganglion_nope", fams)


def test_every_panel_names_an_exported_metric(daemon):
    dash = json.loads(DASHBOARD.read_text())
    # Exercise the endpoints and domains whose series appear only after first use.
    daemon.get("/healthz")
    daemon.get("/no/such/path")
    assert daemon.get("/api/v1/agents").status_code == 200
    watch_util.make_stream(daemon, "grafana")
    r = watch_util.post_events(daemon, "grafana", watch_util.normal_lines(5))
    assert r.status_code in (200, 202), r.text

    async def scrape_while_connected():
        async with gws.connect(daemon) as ws:
            assert (await gws.rpc(ws, "GET", "/healthz"))["status"] == 200
            return daemon.metrics()

    fams = gws.run(scrape_while_connected())

    used, missing = set(), []
    for where, expr in _expressions(dash):
        names = NAME.findall(expr)
        assert names or where.startswith("variable"), f"{where}: no ganglion metric in {expr!r}"
        for n in names:
            used.add(n)
            if not _exported(n, fams):
                missing.append(f"{where}: {n}")
    assert not missing, "metrics the dashboard queries but /metrics lacks:\n" + "\n".join(missing)
    # it covers what an operator looks at first
    for must in ("ganglion_http_requests_total", "ganglion_http_request_duration_seconds_bucket",
                 "ganglion_loop_lag_seconds_bucket", "ganglion_agents_active",
                 "ganglion_watch_events_total", "ganglion_store_operations_total",
                 "ganglion_alerts_notifications_total"):
        assert must in used, must
    assert "ganglion_event_loop_lag_seconds" not in used
