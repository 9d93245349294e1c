"""SQL run straight on a daemon's database, SQLite or PostgreSQL, for tests that need what a
long-lived or another build's installation would have left there (old rows, newer schema)."""

import sqlite3
import subprocess

from conftest import _pg_client


def run_sql(d, sql):
    """Runs sql on d's database (best while d is stopped)."""
    if d.store:
        psql = _pg_client("psql")
        r = subprocess.run([psql, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql, d.store],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    else:
        db = sqlite3.connect(str(d.data_dir / "ganglion.db"), timeout=10)
        with db:
            db.execute(sql)
        db.close()
