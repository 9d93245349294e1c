"""The CLI as a new user meets it, run from a directory of its own with HOME and XDG_CONFIG_HOME
in temporary places: finding the credential from any directory (data dir, user config, login
session), the 401 hint, whoami, the default cwd of spawned agents, per-subcommand --help,
suggestions for typos at every level, completion scripts, the first start's password surviving a
failed start, `make run PORT=…`, and durations without float noise."""

import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from agents_util import SLOW
from auth_util import ADMIN_PASSWORD
from conftest import ROOT, DaemonStartError, daemon_env, free_port, http

BIN = os.environ.get("GANGLION_BIN") or str(ROOT / "build" / "ganglion")


@pytest.fixture
def user_env(tmp_path):
    """A user's shell: an empty home, an own config dir and a working directory that is neither
    the repository nor the daemon's data dir."""
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GANGLION_") and k not in ("XDG_CONFIG_HOME",)}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), NO_COLOR="1")
    return {"env": env, "cwd": cwd, "config": home / ".config" / "ganglion"}


def cli(d, u, *args, input=None, url=True, **extra):
    env = dict(u["env"], **extra)
    if url and d is not None:
        env["GANGLION_URL"] = d.url
    r = subprocess.run([BIN if d is None else d.bin, *args],
                       input=input, capture_output=True, text=True, timeout=60, env=env,
                       cwd=u["cwd"])
    for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
        assert marker not in r.stderr, r.stderr
    return r


def whoami(d, u, **extra):
    r = cli(d, u, "--json", "whoami", **extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def write_config(u, text, mode=0o600):
    u["config"].mkdir(parents=True, exist_ok=True)
    p = u["config"] / "config"
    p.write_text(text)
    p.chmod(mode)
    return p


# ---- credentials --------------------------------------------------------------------------


def test_no_credential_gets_a_401_with_the_ways_to_give_one(make_daemon, user_env):
    d = make_daemon()
    r = cli(d, user_env, "user", "ls")
    assert r.returncode == 1 and "401" in r.stderr
    assert "ganglion login" in r.stderr and "GANGLION_DATA_DIR" in r.stderr
    assert "GANGLION_TOKEN" in r.stderr and "whoami" in r.stderr
    r = cli(d, user_env, "whoami")
    assert r.returncode == 1 and "no credential found" in r.stderr and "ganglion login" in r.stderr
    # a failed sign-in is about the password, not about logging in
    r = cli(d, user_env, "login", "--user", "admin", "--password-stdin", input="not-the-password\n")
    assert r.returncode == 1 and "401" in r.stderr and "hint" not in r.stderr


def test_data_dir_variable_finds_admin_token_from_any_directory(make_daemon, user_env):
    d = make_daemon()
    me = whoami(d, user_env, GANGLION_DATA_DIR=str(d.data_dir))
    assert me["credential_from"] == f"{d.data_dir}/admin.token"
    assert me["me"]["kind"] == "key" and me["me"]["role"] == "admin"
    assert me["token_kind"] == "api key" and me["expires_at"] is None
    assert me["url"] == d.url and me["url_from"] == "$GANGLION_URL"
    r = cli(d, user_env, "user", "ls", GANGLION_DATA_DIR=str(d.data_dir))
    assert r.returncode == 0 and "admin" in r.stdout
    r = cli(d, user_env, "whoami", GANGLION_DATA_DIR=str(d.data_dir))
    assert r.returncode == 0 and "local-admin" in r.stdout and "never expires" in r.stdout
    assert d.url in r.stdout


def test_user_config_gives_url_data_dir_token_file_and_token(make_daemon, user_env, tmp_path):
    d = make_daemon()
    # url and data_dir: no variable at all
    cfg = write_config(user_env, f"# my daemon\nurl = {d.url}\ndata_dir = {d.data_dir}\n")
    me = whoami(d, user_env, url=False)
    assert me["url"] == d.url and me["url_from"] == str(cfg)
    assert me["credential_from"] == f"{d.data_dir}/admin.token"

    key = json.loads(cli(d, user_env, "--json", "key", "create", "ops", "--role", "operator",
                         url=False).stdout)
    secret = tmp_path / "secret"
    secret.write_text(key["secret"] + "\n")
    write_config(user_env, f"url = {d.url}\ntoken_file = {secret}\n")
    me = whoami(d, user_env, url=False)
    assert me["me"]["name"] == "ops" and me["me"]["role"] == "operator"
    assert str(secret) in me["credential_from"]

    cfg = write_config(user_env, f"url = \"{d.url}\"\ntoken = {key['secret']}\n")
    me = whoami(d, user_env, url=False)
    assert me["me"]["name"] == "ops" and me["credential_from"] == f"token in {cfg}"

    # the config's token is for the config's daemon only: another URL does not get it
    other = make_daemon()
    r = cli(other, user_env, "whoami")
    assert r.returncode == 1 and "no credential found" in r.stderr

    # a token readable by others is still used, with a warning
    write_config(user_env, f"url = {d.url}\ntoken = {key['secret']}\n", mode=0o644)
    r = cli(d, user_env, "whoami", url=False)
    assert r.returncode == 0 and "readable by others" in r.stderr
    write_config(user_env, "colour = blue\n")
    r = cli(d, user_env, "status", url=True)
    assert "unknown key 'colour'" in r.stderr


def test_login_session_is_used_from_any_directory(make_daemon, user_env):
    d = make_daemon()
    r = cli(d, user_env, "login", "--user", "admin", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    user_env["cwd"] = user_env["cwd"].parent  # somewhere else again
    me = whoami(d, user_env)
    assert me["me"]["kind"] == "user" and me["me"]["username"] == "admin"
    assert me["token_kind"] == "session access token"
    assert "session.json" in me["credential_from"]
    assert 0 < me["expires_in_s"] <= 3600 and me["expires_at"].endswith("Z")
    # an explicit variable wins over the session
    tok = (d.data_dir / "admin.token").read_text().strip()
    assert whoami(d, user_env, GANGLION_TOKEN=tok)["credential_from"] == "$GANGLION_TOKEN"


# ---- agents ---------------------------------------------------------------------------------


def test_spawn_runs_in_the_callers_directory(make_daemon, user_env):
    d = make_daemon()
    env = {"GANGLION_DATA_DIR": str(d.data_dir)}
    r = cli(d, user_env, "--json", "agent", "spawn", "where", "--", "pwd", **env)
    assert r.returncode == 0, r.stderr
    aid = json.loads(r.stdout)["id"]
    deadline = time.time() + 10 * SLOW
    text = ""
    while time.time() < deadline:
        o = http().get(f"{d.url}/api/v1/agents/{aid}/output", timeout=10).json()
        text = "".join(l["text"] for l in o["lines"])
        if text:
            break
        time.sleep(0.05)
    assert text.strip() == str(user_env["cwd"])
    # --cwd still wins
    r = cli(d, user_env, "--json", "agent", "spawn", "there", "--cwd", "/", "--", "pwd", **env)
    assert json.loads(r.stdout)["cwd"] == "/"


def test_agent_spawn_help_shows_spawn_options(make_daemon, user_env):
    r = cli(None, user_env, "agent", "spawn", "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: ganglion agent spawn NAME")
    for opt in ("--preset", "--task", "--label", "--env", "--cwd", "--limit", "--restart"):
        assert opt in r.stdout
    assert "commands:" not in r.stdout  # not the generic agent help
    assert cli(None, user_env, "agent", "help", "logs").stdout.startswith("usage: ganglion agent logs")
    r = cli(None, user_env, "key", "create", "-h")
    assert r.returncode == 0 and "--rate-limit" in r.stdout and "--scope" in r.stdout
    r = cli(None, user_env, "agent", "--help")
    assert r.returncode == 0 and "spawn" in r.stdout and "batch" in r.stdout
    # after "--" a --help belongs to the agent's command
    r = cli(None, user_env, "agent", "spawn", "x", "--", "sh", "--help", GANGLION_URL="http://127.0.0.1:9")
    assert r.returncode == 3


@pytest.mark.parametrize("words,want", [
    (["agent", "lgos"], "unknown agent command 'lgos'; did you mean 'logs'?"),
    (["agent", "stpo", "x"], "unknown agent command 'stpo'; did you mean 'stop'?"),
    (["user", "ad", "bob"], "unknown user command 'ad'; did you mean 'add'?"),
    (["key", "revok", "1"], "unknown key command 'revok'; did you mean 'revoke'?"),
    (["watch", "verfy"], "unknown watch command 'verfy'; did you mean 'verify'?"),
    (["completion", "bsh"], "unknown completion command 'bsh'; did you mean 'bash'?"),
    (["whomai"], "Did you mean 'ganglion whoami'?"),
])
def test_mistyped_subcommands_get_a_suggestion(user_env, words, want):
    r = cli(None, user_env, *words)
    assert r.returncode == 2 and want in r.stderr, r.stderr


def test_far_off_subcommand_gets_no_suggestion(user_env):
    r = cli(None, user_env, "agent", "frobnicate")
    assert r.returncode == 2 and "unknown agent command 'frobnicate'" in r.stderr
    assert "did you mean" not in r.stderr


# ---- completion -------------------------------------------------------------------------------


def test_bash_completion_lists_subcommands_and_options(user_env, tmp_path):
    r = cli(None, user_env, "completion", "bash")
    assert r.returncode == 0
    script = tmp_path / "ganglion.bash"
    script.write_text(r.stdout)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    for word in ("spawn", "logs", "whoami", "completion", "revoke", "--restart", "--password-stdin"):
        assert word in r.stdout

    def complete(*words):
        line = " ".join(f"'{w}'" for w in words)
        prog = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
                "_ganglion_complete; printf '%s\\n' \"${COMPREPLY[@]}\"")
        out = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        return sorted(out.stdout.split())

    assert complete("ganglion", "ag") == ["agent"]
    assert complete("ganglion", "agent", "l") == ["logs", "ls"]
    assert complete("ganglion", "--url", "http://x", "agent", "spawn", "w1", "--re") == ["--restart"]
    assert complete("ganglion", "user", "add", "bob", "--pa") == ["--password-stdin"]
    assert complete("ganglion", "--via", "") == ["http", "zmq"]
    assert "--fast" not in complete("ganglion", "agent", "spawn", "--")  # from an example


def test_zsh_completion_parses(user_env, tmp_path):
    r = cli(None, user_env, "completion", "zsh")
    assert r.returncode == 0 and r.stdout.startswith("#compdef ganglion")
    assert "'logs:its output\\: ID" in r.stdout and "(agent/spawn) opts=(" in r.stdout
    zsh = shutil.which("zsh")
    if not zsh:
        pytest.skip("zsh is not installed (scripts/install-deps installs it)")
    script = tmp_path / "_ganglion"
    script.write_text(r.stdout)
    out = subprocess.run([zsh, "-n", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# ---- the first start's password -------------------------------------------------------------


def test_first_password_survives_a_start_on_a_busy_port(make_daemon, user_env):
    d = make_daemon(env={"GANGLION_ADMIN_PASSWORD": ""}, start=False)
    d.expect_clean_exit = False
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(DaemonStartError):
            d.start(port=busy.getsockname()[1])
    err = d.stderr()
    pw = re.search(r"created user 'admin' with password: (\S+)", err).group(1)
    kept = re.search(r"first admin's password is kept in (\S+) \(mode 0600\)", err).group(1)
    assert kept == f"{d.data_dir}/admin.password"
    path = d.data_dir / "admin.password"
    assert path.read_text().strip() == pw and (path.stat().st_mode & 0o777) == 0o600

    d.expect_clean_exit = True
    d.start()
    assert "created user" not in d.stderr()
    r = cli(d, user_env, "login", "--user", "admin", "--password-stdin", input=pw + "\n")
    assert r.returncode == 0, r.stderr
    # changing it retires the file
    r = cli(d, user_env, "user", "passwd", "--password-stdin",
            input=f"{pw}\na-new-admin-passphrase\n")
    assert r.returncode == 0, r.stderr
    assert not path.exists()


# ---- make run, durations ----------------------------------------------------------------------


def _three_free_ports():
    """A port P with P+1 and P+2 free too (make run puts ZMQ on the two after HTTP)."""
    for _ in range(50):
        port = free_port()
        socks = []
        try:
            for q in (port, port + 1, port + 2):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", q))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.fail("no three consecutive free ports on loopback")


def test_make_run_honours_port(make_daemon, tmp_path, bin):
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    port = _three_free_ports()
    data = tmp_path / "mk-data"
    # a make of its own: not the MAKEFLAGS of a `make test` this may run under (whose -w would
    # add "Entering directory" lines)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    out = subprocess.run(["make", "-s", "-n", "--no-print-directory", "-C", str(ROOT), "run",
                          f"PORT={port}", f"DATA_DIR={data}"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.replace("\\\n", " ").split("\n")
    serve = next(l for l in lines if "/ganglion serve" in l)
    serve = serve[serve.index("/ganglion serve"):].split()
    assert f"127.0.0.1:{port}" in serve and f"127.0.0.1:{port + 1}" in serve
    # run what make would run, with the binary under test
    data.mkdir()
    log = tmp_path / "mk-serve.log"
    with open(log, "wb") as err:
        p = subprocess.Popen([str(bin), *serve[1:]], env=daemon_env(), cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.time() + 30 * SLOW
        ok = False
        while time.time() < deadline and not ok and p.poll() is None:
            try:
                ok = http().get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except Exception:
                time.sleep(0.05)
        assert ok, "the daemon did not answer on PORT:\n" + log.read_text(errors="replace")[-3000:]
    finally:
        p.terminate()
        p.wait(timeout=15)


def test_uptime_has_no_float_noise(make_daemon, user_env):
    d = make_daemon()
    info = d.get("/api/v1/system/info").json()
    assert isinstance(info["uptime_s"], int)
    env = {"GANGLION_DATA_DIR": str(d.data_dir)}
    r = cli(d, user_env, "--json", "status", **env)
    assert isinstance(json.loads(r.stdout)["uptime_s"], int)
    r = cli(d, user_env, "status", **env)
    up = next(l for l in r.stdout.splitlines() if l.startswith("uptime"))
    assert re.fullmatch(r"uptime\s+(\d+s|\d+m\d\ds|\d+h \d\dm|\d+d \d+h)", up.strip()), up
