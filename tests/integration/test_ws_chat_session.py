"""Chat history per session in the store: a session message binds the connection to a new or a
stored session; its turns are written as they happen and come back, oldest first and paginated,
on another connection — also after a restart — bounded per session, and clear_history forgets
them (SQLite and PostgreSQL)."""

import json

import agents_util
from gws import connect, recv_json, run, until
from test_ws_chat import ECHO, chat


def echo_agent(d):
    a = agents_util.spawn(d, argv=[agents_util.PY, ECHO, "0.001"])
    agents_util.wait_status(d, a["id"], ("running", "idle"))
    return a


async def bind(ws, session=None):
    msg = {"type": "session", "id": "s"}
    if session:
        msg["session"] = session
    await ws.send(json.dumps(msg))
    m = await until(ws, lambda m: m.get("type") in ("session", "error"))
    assert m["type"] == "session" and m["id"] == "s", m
    return m


async def history(ws, offset=0, limit=50):
    await ws.send(json.dumps({"type": "get_history", "offset": offset, "limit": limit}))
    return await until(ws, lambda m: m.get("type") == "history")


def test_session_history_survives_reconnect_and_restart(store_daemon):
    d = store_daemon
    a = echo_agent(d)

    async def first():
        async with connect(d) as ws:
            s = await bind(ws)
            assert s["session"].startswith("cs-") and s["restored"] == 0
            await chat(ws, a["id"], "one")
            await chat(ws, a["id"], "two")
            return s["session"]

    session = run(first())

    async def resume(expect):
        async with connect(d) as ws:
            s = await bind(ws, session)
            assert s == {"type": "session", "session": session, "restored": expect, "id": "s"}
            h = await history(ws, offset=1, limit=2)
            assert [(t["role"], t["content"]) for t in h["messages"]] == [
                ("assistant", "You said: one"), ("user", "two")]
            assert h["total"] == expect and h["has_more"]
            # a turn added now is stored after the restored ones
            await chat(ws, a["id"], "three")
            assert (await history(ws))["total"] == expect + 2

    run(resume(4))
    d.restart()
    a = echo_agent(d)
    run(resume(6))  # the turns of the first resume came back too (6), then two more


def test_clear_forgets_and_refusals(daemon):
    a = echo_agent(daemon)

    async def go():
        async with connect(daemon) as ws:
            s = (await bind(ws))["session"]
            await chat(ws, a["id"], "secret")
            await ws.send(json.dumps({"type": "session"}))
            m = await until(ws, lambda m: m.get("type") == "error")
            assert m["status"] == 409
            await ws.send(json.dumps({"type": "clear_history"}))
            await until(ws, lambda m: m.get("type") == "history_cleared")
        async with connect(daemon) as ws:
            assert (await bind(ws, s))["restored"] == 0
        async with connect(daemon) as ws:
            await ws.send(json.dumps({"type": "session", "session": "../../etc"}))
            m = await until(ws, lambda m: m.get("type") == "error")
            assert m["status"] == 422 and m["body"]["errors"][0]["field"] == "session"
    run(go())


def test_stored_history_is_bounded(daemon):
    a = echo_agent(daemon)

    async def go():
        async with connect(daemon) as ws:
            s = (await bind(ws))["session"]
            for i in range(105):  # 210 turns
                await chat(ws, a["id"], f"m{i}")
        async with connect(daemon) as ws:
            assert (await bind(ws, s))["restored"] == 200
            h = await history(ws, limit=1)
            assert h["messages"][0]["content"] == "m5" and h["total"] == 200
    run(go())
