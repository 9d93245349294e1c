"""SQL run straight on a daemon's database, SQLite or PostgreSQL, for tests that need what a
long-lived or another build's installation would have left there (old rows, newer schema)."""

import sqlite3
import subprocess

from conftest import _pg_client


def run_sql(d, sql):
    """Runs sql on d's database (best while d is stopped); returns the first column of the rows
    it answers, as text."""
    if d.store:
        psql = _pg_client("psql")
        r = subprocess.run([psql, "-v", "ON_ERROR_STOP=1", "-q", "-t", "-A", "-c", sql, d.store],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return [x for x in r.stdout.splitlines() if x]
    db = sqlite3.connect(str(d.data_dir / "ganglion.db"), timeout=10)
    with db:
        rows = [str(r[0]) for r in db.execute(sql).fetchall()]
    db.close()
    return rows
