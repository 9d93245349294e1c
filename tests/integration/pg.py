"""A throwaway PostgreSQL for tests: starts a real cluster with tests/harness/pg-start (Debian's
server binaries, a temp dir, a free port on 127.0.0.1, trust auth) and stops it with pg-stop.
Standard library only.

    with PostgresServer() as url:      # url = "postgres://ganglion@127.0.0.1:PORT/ganglion_test"
        run_daemon("--store", url)

A test that needs an outage stops and starts the server itself, keeping data and port:

    srv = PostgresServer(); url = srv.start()
    srv.halt(); ...; srv.resume(); ...; srv.stop()

or as a pytest fixture:

    @pytest.fixture(scope="session")
    def pg_url():
        with PostgresServer() as url:
            yield url
"""

import atexit
import glob
import os
import pathlib
import pwd
import signal
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

    def _pg_ctl(self, *args):
        """Runs pg_ctl on this cluster as the owner of its data directory (the server refuses to
        run as root)."""
        data = pathlib.Path(self.dir) / "data"
        cmd = [self._bin("pg_ctl"), "-D", str(data), *args]
        if os.geteuid() == 0:
            owner = pwd.getpwuid(data.stat().st_uid).pw_name
            cmd = ["runuser", "-u", owner, "--", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout)
        if p.returncode != 0:
            raise PostgresError(f"pg_ctl {' '.join(args)} failed:\n{p.stdout}{p.stderr}")

    def _bin(self, name):
        if os.environ.get("PG_BINDIR"):
            return os.path.join(os.environ["PG_BINDIR"], name)
        bins = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        return bins[-1]

    def configure(self, **settings):
        """ALTER SYSTEM SET name = value for each setting, then reload: e.g.
        configure(synchronous_commit="on") for a test that crashes the server and counts on
        every commit surviving (pg-start turns it off for speed)."""
        for name, value in settings.items():
            sql = f"ALTER SYSTEM SET {name} = '{value}'"
            for cmd in ([self._bin("psql"), "-X", "-q", "-d", self.url, "-c", sql],
                        [self._bin("psql"), "-X", "-q", "-d", self.url, "-c",
                         "SELECT pg_reload_conf()"]):
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout)
                if p.returncode != 0:
                    raise PostgresError(f"{' '.join(cmd[-2:])} failed:\n{p.stderr}")

    def pids(self):
        """The server's processes: the postmaster (postmaster.pid) and its children."""
        data = pathlib.Path(self.dir) / "data"
        main = int((data / "postmaster.pid").read_text().split()[0])
        found = [main]
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = open(f"/proc/{d}/stat").read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == main:
                    found.append(int(d))
        return found

    def freeze(self):
        """SIGSTOP to every server process: a server that accepts connections (its kernel
        does) and never answers, like one whose disk hung. thaw() resumes it."""
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self):
        for pid in self.pids():
            os.kill(pid, signal.SIGCONT)

    def halt(self, mode="fast"):
        """Stops the server and keeps its data: an outage (resume() brings it back on the same
        port). mode "fast" ends sessions as an administrator's stop does; "immediate" as a crash."""
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def resume(self):
        """Starts the server halted by halt() again, on the same port and data."""
        log = pathlib.Path(self.dir) / "server.log"
        self._pg_ctl("-l", str(log), "-w", "-t", "60", "start")

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
