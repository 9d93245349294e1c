"""A throwaway PostgreSQL for tests: starts a real cluster with tests/harness/pg-start (Debian's
server binaries, a temp dir, a free port on 127.0.0.1, trust auth) and stops it with pg-stop.
Standard library only.

    with PostgresServer() as url:      # url = "postgres://ganglion@127.0.0.1:PORT/ganglion_test"
        run_daemon("--store", url)

or as a pytest fixture:

    @pytest.fixture(scope="session")
    def pg_url():
        with PostgresServer() as url:
            yield url
"""

import atexit
import os
import pathlib
import subprocess

HARNESS = pathlib.Path(__file__).resolve().parent.parent / "harness"


class PostgresError(RuntimeError):
    pass


class PostgresServer:
    """Context manager: yields the URL of a fresh database; the cluster is removed on exit."""

    def __init__(self, timeout=120):
        self.timeout = timeout
        self.url = None
        self.dir = None

    def start(self):
        if self.url:
            return self.url
        proc = subprocess.run(
            [str(HARNESS / "pg-start")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=self.timeout,
        )
        if proc.returncode != 0:
            raise PostgresError("pg-start failed:\n" + proc.stderr)
        values = dict(
            line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line
        )
        try:
            self.url = values["GANGLION_TEST_PG_URL"]
            self.dir = values["GANGLION_TEST_PG_DIR"]
        except KeyError:
            raise PostgresError("unexpected pg-start output: " + proc.stdout) from None
        # A test run that ends without leaving the with-block (sys.exit, an error in a
        # fixture) must still not leave a server behind.
        atexit.register(self.stop)
        return self.url

    def stop(self):
        if self.dir:
            subprocess.run([str(HARNESS / "pg-stop"), self.dir], timeout=self.timeout)
        self.url = None
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def existing_or_new():
    """The cluster in $GANGLION_TEST_PG_URL when set (e.g. under with-pg), else a new one.
    Returns a context manager yielding the URL either way."""
    url = os.environ.get("GANGLION_TEST_PG_URL")
    if url:
        class _Existing:
            def __enter__(self):
                return url

            def __exit__(self, *exc):
                return False

        return _Existing()
    return PostgresServer()


if __name__ == "__main__":
    with PostgresServer() as u:
        print(u)
