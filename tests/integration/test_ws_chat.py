"""Chat with an agent over the WebSocket: the message reaches the agent's stdin as a JSON line,
its answer streams back as stream_start, stream_chunk and stream_end; history per connection,
paginated and clearable; refusals (no credential, unknown agent) as error messages."""

import json
from pathlib import Path

import pytest

import agents_util
from gws import connect, recv_json, run, until

ECHO = str(Path(__file__).resolve().parents[2] / "examples" / "echo_llm.py")


def echo_agent(d):
    a = agents_util.spawn(d, argv=[agents_util.PY, ECHO, "0.005"])
    agents_util.wait_status(d, a["id"], ("running", "idle"))
    return a


async def chat(ws, agent, message):
    await ws.send(json.dumps({"type": "chat", "agent": agent, "message": message}))
    start = await until(ws, lambda m: m.get("type") in ("stream_start", "error"))
    assert start["type"] == "stream_start", start
    chunks = []
    while True:
        m = await recv_json(ws)
        if m["type"] == "stream_chunk":
            chunks.append(m["content"])
        elif m["type"] == "stream_end":
            return start, chunks, m


def test_chat_streams_the_agents_answer_token_by_token(daemon):
    a = echo_agent(daemon)

    async def go():
        async with connect(daemon) as ws:
            start, chunks, end = await chat(ws, a["id"], "hello there ganglion")
            assert start["agent"] == a["id"]
            assert chunks == ["You", " said:", " hello", " there", " ganglion"]
            assert end["full_response"] == "You said: hello there ganglion"
            # by name too
            _, _, end = await chat(ws, a["name"], "again")
            assert end["full_response"] == "You said: again"
            await ws.send(json.dumps({"type": "get_history", "limit": 3}))
            h = await until(ws, lambda m: m.get("type") == "history")
            assert h["total"] == 4 and h["has_more"] and len(h["messages"]) == 3
            assert [t["role"] for t in h["messages"]] == ["user", "assistant", "user"]
            assert h["messages"][1]["content"] == "You said: hello there ganglion"
            await ws.send(json.dumps({"type": "get_history", "offset": 3, "limit": 3}))
            h = await until(ws, lambda m: m.get("type") == "history")
            assert len(h["messages"]) == 1 and not h["has_more"]
            await ws.send(json.dumps({"type": "clear_history"}))
            await until(ws, lambda m: m.get("type") == "history_cleared")
            await ws.send(json.dumps({"type": "get_history"}))
            h = await until(ws, lambda m: m.get("type") == "history")
            assert h["total"] == 0
            # SutazAI's ping and the client's own pong/error reports are accepted
            await ws.send(json.dumps({"type": "ping"}))
            assert (await until(ws, lambda m: True))["type"] == "pong"
            await ws.send(json.dumps({"type": "error", "message": "client side"}))
            await ws.send(json.dumps({"type": "ping"}))
            assert (await until(ws, lambda m: True))["type"] == "pong"
    run(go())


def test_chat_refusals(daemon):
    a = echo_agent(daemon)

    async def go():
        async with connect(daemon, token=None) as ws:
            await ws.send(json.dumps({"type": "chat", "agent": a["id"], "message": "hi"}))
            m = await until(ws, lambda m: m.get("type") == "error")
            assert m["status"] == 401
        async with connect(daemon) as ws:
            await ws.send(json.dumps({"type": "chat", "agent": "no-such-agent", "message": "hi"}))
            m = await until(ws, lambda m: m.get("type") == "error")
            assert m["status"] == 404
            await ws.send(json.dumps({"type": "chat", "agent": a["id"]}))
            m = await until(ws, lambda m: m.get("type") == "error")
            assert m["status"] == 422
    run(go())


def test_chat_answer_ends_when_the_agent_exits_or_a_new_message_comes(daemon):
    a = echo_agent(daemon)
    # an agent that reads one line and exits without an end line
    quitter = agents_util.spawn(daemon, argv=["sh", "-c", "read l; echo partial; exit 3"])

    async def go():
        async with connect(daemon) as ws:
            _, chunks, end = await chat(ws, quitter["id"], "bye")
            assert end["full_response"] == "partial\n" and end["interrupted"]
            # a slow answer is cut short by the next message
            slow = agents_util.spawn(daemon, argv=[agents_util.PY, ECHO, "0.5"])
            agents_util.wait_status(daemon, slow["id"], ("running", "idle"))
            await ws.send(json.dumps({"type": "chat", "agent": slow["id"],
                                      "message": "one two three four"}))
            await until(ws, lambda m: m.get("type") == "stream_start")
            await ws.send(json.dumps({"type": "chat", "agent": a["id"], "message": "next"}))
            cut = await until(ws, lambda m: m.get("type") == "stream_end")
            assert cut["agent"] == slow["id"] and cut["interrupted"] == "a new message was sent"
            start = await until(ws, lambda m: m.get("type") == "stream_start")
            assert start["agent"] == a["id"]
            end = await until(ws, lambda m: m.get("type") == "stream_end")
            assert end["full_response"] == "You said: next"
    run(go())
