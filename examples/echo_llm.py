#!/usr/bin/env python3
"""An "echo LLM" for `ganglion` chat: spawn it as an agent and talk to it over the WebSocket
(docs/websocket.md, "Chat with an agent"). Each chat message arrives on stdin as one JSON line
{"type":"chat","message":...}; the answer streams back token by token as JSON lines
{"type":"chunk","content":...} on stdout, closed by {"type":"end"}. Any program that follows
these lines can take its place (a real model, a coding agent, a shell wrapper).

    ganglion agent spawn echo -- python3 examples/echo_llm.py
"""
import json
import sys
import time

DELAY = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01  # seconds between tokens


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue  # not for us
    if msg.get("type") != "chat":
        continue
    words = ["You", " said:"] + [" " + w for w in str(msg.get("message", "")).split()]
    for w in words:
        say({"type": "chunk", "content": w})
        time.sleep(DELAY)
    say({"type": "end"})
