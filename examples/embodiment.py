#!/usr/bin/env python3
"""A small embodiment speaking feagi-core's robot protocol to a ganglion brain (or to FEAGI).

It registers on the brain's ROUTER (a DEALER here), sends a stimulus that moves along x through
an input area as XYZP frames on the sensory PUSH socket at a fixed rate, prints the motor
output it receives on the SUB socket, sends a heartbeat every second, and deregisters on exit.
Needs only Debian's python3-zmq.

    examples/embodiment.py --router tcp://127.0.0.1:30001 --area i__inf --rate 20 --duration 5

With --once it registers, sends one frame, waits up to --motor-wait seconds for motor output,
deregisters and exits (0 on success, 2 when the registration was refused). --json prints one
JSON object per line instead of text.
"""

import argparse
import json
import signal
import struct
import sys
import time

import zmq

FBC_VERSION = 4
T_JSON, T_XYZP = 1, 11
CAPS = ["send_sensor_data", "receive_motor_data"]


# ---- FeagiByteContainer v4 --------------------------------------------------------------------

def fbc_encode(structs, counter=0, agent_id=bytes(8)):
    """structs: whole structs, each starting with its [type][version] bytes."""
    head = struct.pack("<BHB", FBC_VERSION, counter & 0xFFFF, len(structs)) + bytes(agent_id)
    table = b"".join(struct.pack("<I", len(s)) for s in structs)
    return head + table + b"".join(structs)


def fbc_decode(buf):
    """Returns (counter, agent_id, [structs]); raises ValueError on a malformed container."""
    if len(buf) < 12 or buf[0] != FBC_VERSION:
        raise ValueError("not a FeagiByteContainer v4")
    counter, n = struct.unpack_from("<HB", buf, 1)
    agent_id = bytes(buf[4:12])
    at, structs = 12 + 4 * n, []
    if at > len(buf):
        raise ValueError("truncated length table")
    for i in range(n):
        (length,) = struct.unpack_from("<I", buf, 12 + 4 * i)
        if length < 2 or at + length > len(buf):
            raise ValueError("struct out of bounds")
        structs.append(bytes(buf[at:at + length]))
        at += length
    return counter, agent_id, structs


def json_struct(obj):
    return bytes([T_JSON, 1]) + json.dumps(obj, separators=(",", ":")).encode()


def area_id(name):
    """Genome ids have 6 characters, feagi-core's 8 bytes: padded on the right with '_'."""
    raw = name.encode("ascii")
    if not 1 <= len(raw) <= 8:
        raise argparse.ArgumentTypeError("an area id has 1 to 8 ASCII characters")
    return raw.ljust(8, b"_")


def xyzp_struct(areas):
    """areas: {8-byte id: [(x, y, z, p), ...]} -> one XYZP struct (offsets from its start)."""
    head = bytes([T_XYZP, 1]) + struct.pack("<H", len(areas))
    offset = len(head) + 16 * len(areas)
    table, data = b"", b""
    for aid, pts in areas.items():
        n = len(pts)
        body = (struct.pack(f"<{n}I", *[p[0] for p in pts]) + struct.pack(f"<{n}I", *[p[1] for p in pts])
                + struct.pack(f"<{n}I", *[p[2] for p in pts]) + struct.pack(f"<{n}f", *[p[3] for p in pts]))
        table += aid + struct.pack("<II", offset, len(body))
        data += body
        offset += len(body)
    return head + table + data


def xyzp_decode(st):
    """One XYZP struct -> {area name: [(x, y, z, p), ...]}."""
    if len(st) < 4 or st[0] != T_XYZP:
        raise ValueError("not an XYZP struct")
    (count,) = struct.unpack_from("<H", st, 2)
    out = {}
    for i in range(count):
        aid, off, length = struct.unpack_from("<8sII", st, 4 + 16 * i)
        if length % 16 or off + length > len(st):
            raise ValueError("area out of bounds")
        n = length // 16
        xs = struct.unpack_from(f"<{n}I", st, off)
        ys = struct.unpack_from(f"<{n}I", st, off + 4 * n)
        zs = struct.unpack_from(f"<{n}I", st, off + 8 * n)
        ps = struct.unpack_from(f"<{n}f", st, off + 12 * n)
        out[aid.rstrip(b"\0").decode("ascii", "replace")] = list(zip(xs, ys, zs, ps))
    return out


# ---- the embodiment ---------------------------------------------------------------------------

class Embodiment:
    def __init__(self, args):
        self.args = args
        self.ctx = zmq.Context()
        self.cmd = self.ctx.socket(zmq.DEALER)
        self.cmd.setsockopt(zmq.LINGER, 0)
        self.cmd.connect(args.router)
        self.counter = 0
        self.agent_id = None
        self.push = self.sub = None

    def say(self, event, text, **fields):
        if self.args.json:
            print(json.dumps({"event": event, **fields}), flush=True)
        else:
            print(text, flush=True)

    def request(self, obj, timeout_s=5.0):
        """Sends one JSON command as [""][container] and returns the decoded JSON answer."""
        self.counter += 1
        self.cmd.send_multipart([b"", fbc_encode([json_struct(obj)], self.counter,
                                                 self.agent_id or bytes(8))])
        if not self.cmd.poll(int(timeout_s * 1000)):
            raise TimeoutError("no answer from the brain's router")
        frames = self.cmd.recv_multipart()
        _, _, structs = fbc_decode(frames[-1])
        return json.loads(structs[0][2:])

    def register(self):
        token = bytes.fromhex(self.args.token) if self.args.token else bytes(32)
        reply = self.request({"agent_registration": {"client_request_registration": {
            "agent_descriptor": {"manufacturer": "ganglion-examples", "agent_name": self.args.name,
                                 "agent_version": "1.0"},
            "auth_token": {"value": list(token)},
            "requested_capabilities": CAPS,
            "connection_protocol": "Zmq",
            "api_version": {"version": 1}}}})
        answer = reply["agent_registration"]["server_responds_registration"]
        if isinstance(answer, str):
            self.say("refused", f"registration refused: {answer}", reply=answer)
            return False
        ident, caps = answer["success"]
        self.agent_id = bytes(ident["bytes"])
        sensory = self.args.sensory or caps["send_sensor_data"]["Zmq"]["url"]
        motor = self.args.motor or caps["receive_motor_data"]["Zmq"]["url"]
        self.push = self.ctx.socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, 1000)
        self.push.connect(sensory)
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(motor)
        self.say("registered", f"registered as {self.agent_id.hex()} (sensory {sensory}, motor {motor})",
                 agent_id=self.agent_id.hex(), sensory=sensory, motor=motor)
        return True

    def heartbeat(self):
        reply = self.request("heart_beat")
        return reply == "heart_beat"

    def deregister(self):
        reply = self.request({"agent_registration": {"client_request_deregistration": {"reason": "shutdown"}}})
        answer = reply["agent_registration"]["server_responds_deregistration"]
        self.say("deregistered", f"deregistered: {answer}", reply=answer)

    def stimulus(self, step):
        """One point moving along x through the input area, back and forth."""
        w = max(1, self.args.width)
        x = step % (2 * w - 1) if w > 1 else 0
        if x >= w:
            x = 2 * w - 2 - x
        return {area_id(self.args.area): [(x, 0, 0, self.args.potential)]}

    def send(self, step):
        self.counter += 1
        frame = fbc_encode([xyzp_struct(self.stimulus(step))], self.counter, self.agent_id)
        self.push.send(frame)
        return frame

    def drain_motor(self, wait_s):
        """Prints the motor frames that arrive within wait_s; returns how many there were."""
        got, deadline = 0, time.monotonic() + wait_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sub.poll(int(left * 1000)):
                return got
            counter, _, structs = fbc_decode(self.sub.recv())
            for st in structs:
                if st[0] == T_XYZP:
                    areas = xyzp_decode(st)
                    got += 1
                    self.say("motor", f"motor #{counter}: {areas}", counter=counter,
                             areas={k: [list(p) for p in v] for k, v in areas.items()})
            if self.args.once and got:
                return got

    def run(self):
        if not self.register():
            return 2
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        signal.signal(signal.SIGINT, lambda *_: stop.append(1))
        try:
            if self.args.once:
                time.sleep(0.1)  # lets the PUSH and SUB connections finish
                self.send(0)
                self.say("sent", "sent 1 frame", frames=1)
                ok = self.heartbeat()
                self.say("heartbeat", f"heartbeat echoed: {ok}", echoed=ok)
                self.drain_motor(self.args.motor_wait)
                return 0
            period = 1.0 / self.args.rate
            end = time.monotonic() + self.args.duration
            next_beat, step, nxt = time.monotonic() + 1.0, 0, time.monotonic()
            while not stop and time.monotonic() < end:
                self.send(step)
                step += 1
                if time.monotonic() >= next_beat:
                    self.heartbeat()
                    next_beat += 1.0
                nxt += period
                self.drain_motor(max(0.0, nxt - time.monotonic()))
            self.say("sent", f"sent {step} frames", frames=step)
            return 0
        finally:
            self.deregister()
            self.ctx.destroy(linger=1000)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--router", default="tcp://127.0.0.1:30001", help="the brain's registration ROUTER")
    p.add_argument("--sensory", help="sensory PULL endpoint (default: the one registration gives)")
    p.add_argument("--motor", help="motor PUB endpoint (default: the one registration gives)")
    p.add_argument("--area", default="i__inf", help="input cortical area id (6 or 8 characters)")
    p.add_argument("--width", type=int, default=8, help="voxels along x the stimulus moves through")
    p.add_argument("--potential", type=float, default=100.0, help="the stimulus' potential")
    p.add_argument("--rate", type=float, default=10.0, help="frames per second")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to run")
    p.add_argument("--token", default="", help="auth token, 64 hex digits (default: 32 zero bytes)")
    p.add_argument("--name", default="embodiment.py", help="agent name sent at registration")
    p.add_argument("--once", action="store_true", help="register, send one frame, deregister")
    p.add_argument("--motor-wait", type=float, default=1.0, help="--once: seconds to wait for motor output")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    args = p.parse_args(argv)
    area_id(args.area)
    if args.rate <= 0:
        p.error("--rate must be positive")
    return Embodiment(args).run()


if __name__ == "__main__":
    sys.exit(main())
