"""A real SMTP server on a free loopback port for the mail tests (Debian's python3-aiosmtpd):
it accepts every message and keeps it, parsed, for the test to read."""

import email
import email.policy
import re
import threading
import time

from aiosmtpd.controller import Controller

from conftest import free_port


class _Keep:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.sink.lock:
            self.sink.rcpts.append(address)
        if address.startswith("bounce"):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                       "raw": envelope.original_content, "msg": msg})
        return "250 Message accepted"


class SmtpSink:
    """kw goes to aiosmtpd's SMTP: tls_context, require_starttls, authenticator, auth_required."""

    def __init__(self, **kw):
        self.messages = []
        self.rcpts = []  # every RCPT TO seen; addresses starting with "bounce" are refused (550)
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port, **kw)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def wait_for(self, to, count=1, timeout=10.0):
        """The messages to `to` once there are `count` of them (polled until the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = [m for m in self.messages if to in m["to"]]
            if len(got) >= count or time.monotonic() > deadline:
                assert len(got) >= count, f"{len(got)} mails to {to}, expected {count}: {self.messages}"
                return got

    def to(self, addr):
        with self.lock:
            return [m for m in self.messages if addr in m["to"]]


def token_in(message, prefix):
    """The token with that prefix (gpr_, gev_) in a captured mail's text."""
    text = message["msg"].get_content()
    m = re.search(prefix + r"[A-Za-z0-9_-]{43}", text)
    assert m, f"no {prefix} token in the mail:\n{text}"
    return m.group(0)
