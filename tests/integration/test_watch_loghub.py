"""`ganglion watch loghub DIR`: the log detector at its defaults over loghub-style parsed samples
(<System>_2k.csv, EventId per line). A user reads per system how often windows are flagged and
whether what is flagged is what is new, and sees the new lines themselves with --show."""
import random
import re
import subprocess

from conftest import sanitizer_report


def run(bin, *args, timeout=300):
    p = subprocess.run([str(bin), *args], capture_output=True, text=True, timeout=timeout)
    assert not sanitizer_report(p.stderr), p.stderr
    return p


def write_sample(path, burst_at=700, burst=20, total=1000):
    """Routine lines of three templates whose numbers, ids, hosts and block ids vary on every
    line, and one burst of a template never seen before."""
    rnd = random.Random(3)
    rows = ["LineId,Date,Time,Level,Component,Content,EventId,EventTemplate"]
    for i in range(total):
        if burst_at <= i < burst_at + burst:
            content = f'"disk /dev/sd{"abc"[i % 3]} failed, error {rnd.randint(100, 999)}"'
            eid, tmpl = "E9", '"disk <*> failed, error <*>"'
        else:
            k = rnd.randrange(3)
            if k == 0:
                content = (f"Receiving block blk_{rnd.randint(-2**62, 2**62)} src: "
                           f"/10.250.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}:{rnd.randint(1024, 65535)}")
                eid, tmpl = "E1", "Receiving block blk_<*> src: /<*>"
            elif k == 1:
                content = (f"Served request req-{rnd.getrandbits(32):08x} in {rnd.randint(1, 99)} ms "
                           f"for appattempt_{rnd.randint(10**12, 10**13)}_{rnd.randint(1, 9999):04d}")
                eid, tmpl = "E2", "Served request <*> in <*> ms for <*>"
            else:
                content = f"Heartbeat from node-{rnd.randint(1, 300)} ok"
                eid, tmpl = "E3", "Heartbeat from <*> ok"
        rows.append(f"{i + 1},2026-12-07,{i // 60:02d}:{i % 60:02d}:00,INFO,svc,{content},{eid},{tmpl}")
    path.write_text("\n".join(rows) + "\n")


def table_row(out, system):
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == system:
            return cells
    raise AssertionError(f"no row for {system} in:\n{out}")


def test_loghub_flags_the_new_template_and_shows_its_lines(bin, tmp_path):
    write_sample(tmp_path / "Test_2k.csv")
    p = run(bin, "watch", "loghub", str(tmp_path), "--show", "2")
    assert p.returncode == 0, p.stderr
    row = table_row(p.stdout, "Test")
    lines, flagged, alarms = int(row[1]), int(row[3]), float(row[5])
    assert lines == 1000
    # the burst is found in its overlapping windows, and they make one alarm
    assert flagged >= 1 and alarms == 1.0, p.stdout
    assert row[6].startswith("1.00"), p.stdout  # every flagged window holds the new template
    assert row[7] == "1.00 (1/1)", p.stdout  # the one template first seen after warm-up is flagged
    # --show prints the flagged window with the new lines, canonicalised
    shown = p.stdout.split("| system |")[0]
    assert re.search(r"novel: .*disk /dev/sd[abc] failed, error <NUM3>", shown), shown
    # the explanation names the new kind of line, once per kind
    assert re.search(r'Most novel[^\n]*"[^"\n]*disk /dev/sd[abc] failed, error <NUM3>"', shown), shown
    # folding: the windows overlapping the anomaly are not handed out, one flagged window
    f = run(bin, "watch", "loghub", str(tmp_path), "--fold", "on")
    assert f.returncode == 0, f.stderr
    folded = table_row(f.stdout, "Test")
    assert int(folded[3]) == 1 and folded[7] == "1.00 (1/1)", f.stdout
    assert int(folded[2]) < int(row[2])  # fewer windows scored


def test_loghub_routine_lines_with_changing_ids_are_not_flagged(bin, tmp_path):
    write_sample(tmp_path / "Quiet_2k.csv", burst=0)
    p = run(bin, "watch", "loghub", str(tmp_path))
    assert p.returncode == 0, p.stderr
    row = table_row(p.stdout, "Quiet")
    assert int(row[3]) == 0, p.stdout


def test_loghub_without_samples_is_an_error(bin, tmp_path):
    p = run(bin, "watch", "loghub", str(tmp_path))
    assert p.returncode != 0 and "no <System>_2k.csv" in p.stderr
    p = run(bin, "watch", "loghub", str(tmp_path), "--bogus", "1")
    assert p.returncode != 0 and "--bogus" in p.stderr
