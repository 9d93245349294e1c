"""Agents' log files: output beyond the in-memory ring read back from <data-dir>/logs through
/output, size rotation with a bounded number of backups, history after a restart or a kill -9 of
the daemon, file modes, and the files going with the agent."""
import json
import stat

from agents_util import PY, output, spawn, wait_output, wait_status


def _files(d, aid):
    logs = d.data_dir / "logs"
    return sorted(p for p in logs.iterdir() if p.name.startswith(aid + ".log"))


def _all_lines(d, aid, **q):
    """Every line through /output, page by page (since/next_since), as a user's client would."""
    lines, since = [], 0
    while True:
        o = output(d, aid, since=since, limit=10000, **q)
        lines += o["lines"]
        if not o["has_more"]:
            return lines, o
        since = o["next_since"]


def test_output_beyond_the_ring_comes_from_the_file(make_daemon):
    d = make_daemon(args=("--set", "agents.output_buffer=64k"))
    a = spawn(d, "flood", 20000)
    aid = a["id"]
    wait_status(d, aid, "completed")
    lines, last = _all_lines(d, aid)
    # 64 KiB of ring holds about a thousand of these lines; the file has all 20000
    assert [l["seq"] for l in lines] == list(range(1, 20001))
    assert lines[0]["text"] == "line 00000001 " + "x" * 40
    assert lines[-1]["text"].startswith("line 00020000 ")
    assert last["first_seq"] == 1 and last["last_seq"] == 20000
    # tail reaching before the ring, and a grep over the whole history (off the loop)
    t = output(d, aid, tail=5000)
    assert [l["seq"] for l in t["lines"]] == list(range(15001, 20001))
    g = output(d, aid, grep="^line 0000(0007|1234) ")
    assert [l["seq"] for l in g["lines"]] == [7, 1234] and g["total"] == 2
    # what the ring alone still answers stays as it was
    r = output(d, aid, since=19990)
    assert [l["seq"] for l in r["lines"]] == list(range(19991, 20001))
    # the file is the owner's only, in a directory that is the owner's only
    f = d.data_dir / "logs" / f"{aid}.log"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(f.parent.stat().st_mode) == 0o700
    rec = json.loads(f.read_text().splitlines()[0])
    assert rec == {"seq": 1, "stream": "stdout", "ts": rec["ts"], "text": lines[0]["text"]}


def test_rotation_keeps_at_most_n_backups_of_at_most_m_bytes(make_daemon):
    d = make_daemon(args=("--set", "agents.output_buffer=64k", "--set",
                          "agents.log_max_bytes=100k", "--set", "agents.log_backups=2"))
    a = spawn(d, "flood", 20000)  # about 1.9 MB of records
    aid = a["id"]
    wait_status(d, aid, "completed")
    names = [p.name for p in _files(d, aid)]
    assert names == [f"{aid}.log", f"{aid}.log.1", f"{aid}.log.2"]
    for p in _files(d, aid):
        assert 0 < p.stat().st_size <= 100 * 1024, p
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    # the oldest records went with the oldest file; what is kept is contiguous up to the end
    lines, last = _all_lines(d, aid)
    seqs = [l["seq"] for l in lines]
    assert 1 < seqs[0] == last["first_seq"] and seqs == list(range(seqs[0], 20001))
    assert len(seqs) > 2000  # three files of ~1000 records each, not just the ring
    # a page that starts in a later file (the older ones are skipped) still counts right
    for since in (seqs[0] - 1, seqs[len(seqs) // 2], 19990):  # the last from the ring
        o = output(d, aid, since=since, limit=5)
        assert [l["seq"] for l in o["lines"]] == list(range(since + 1, min(since + 6, 20001)))
        assert o["total"] == 20000 - since
    # an agent's own settings win over the daemon's
    own = spawn(d, "flood", 2000, log_max_bytes=20000, log_backups=1)
    wait_status(d, own["id"], "completed")
    assert [p.name for p in _files(d, own["id"])] == [f"{own['id']}.log", f"{own['id']}.log.1"]
    assert all(p.stat().st_size <= 20000 for p in _files(d, own["id"]))
    m = d.metrics()
    assert m["ganglion_agents_log_rotations_total"].samples[0].value >= 15
    assert m["ganglion_agents_log_dropped_total"].samples[0].value == 0
    assert m["ganglion_agents_log_bytes_total"].samples[0].value > 1_500_000


def test_history_survives_a_restart_and_a_kill(make_daemon):
    d = make_daemon(args=("--set", "agents.output_buffer=64k"))
    done = spawn(d, "flood", 3000)
    wait_status(d, done["id"], "completed")
    binary = spawn(d, "binary")
    wait_status(d, binary["id"], "completed")
    before = _all_lines(d, binary["id"])[0]
    # a line with escapes, then more lines than the stored tail holds
    odd = spawn(d, name="odd", argv=[PY, "-c", "print('tab\\t\"q\" back\\\\slash \\u00e9t\\u00e9 "
                                     "\\U0001f600 \\x1b[1mbold'); [print(i) for i in range(300)]"])
    wait_status(d, odd["id"], "completed")
    # an agent still running when the daemon is killed: the lines it printed are on disk
    live = spawn(d, name="live", argv=["sh", "-c",
                                       "i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo l$i; "
                                       "done; exec sleep 60"])
    wait_output(d, live["id"], lambda o: o["last_seq"] == 500)
    d.kill()  # SIGKILL: no shutdown, no tail written for the live agent
    d.start()
    lines, _ = _all_lines(d, done["id"])
    assert [l["seq"] for l in lines] == list(range(1, 3001))
    # binary lines and split long lines come back from the file as they were served
    after, last = _all_lines(d, binary["id"])
    assert last["source"] == "files" and after == before
    # grep over the files sees the text as it was printed (escapes undone)
    g = output(d, odd["id"], grep='\t"q" back\\\\slash été 😀 \x1b\\[1mbold$')
    assert g["source"] == "files" and [l["text"] for l in g["lines"]] == [
        'tab\t"q" back\\slash été 😀 \x1b[1mbold']
    lost = wait_status(d, live["id"], "lost")
    assert lost["output"]["last_seq"] in (0, 500)
    lines, _ = _all_lines(d, live["id"])
    assert [l["text"] for l in lines] == [f"l{i}" for i in range(1, 501)]
    # and after a clean restart too
    d.restart()
    assert len(_all_lines(d, done["id"])[0]) == 3000


def test_deleting_an_agent_removes_its_files(make_daemon):
    d = make_daemon(args=("--set", "agents.log_max_bytes=20k", "--set", "agents.log_backups=3"))
    a = spawn(d, "flood", 2000)
    wait_status(d, a["id"], "completed")
    assert len(_files(d, a["id"])) == 4
    keep = spawn(d, "flood", 10)
    wait_status(d, keep["id"], "completed")
    assert d.request("DELETE", f"/api/v1/agents/{a['id']}").status_code == 204
    assert _files(d, a["id"]) == []
    assert len(_files(d, keep["id"])) == 1


def test_no_files_when_turned_off(make_daemon):
    d = make_daemon(args=("--set", "agents.log_max_bytes=0"))
    a = spawn(d, "flood", 100)
    wait_status(d, a["id"], "completed")
    assert _files(d, a["id"]) == []
    assert output(d, a["id"])["total"] == 100
