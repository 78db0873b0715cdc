"""An SMTP sink for the e-mail benches: aiosmtpd on 127.0.0.1 in a thread of the bench's own
process (which only waits meanwhile), counting what it accepts, per recipient; and the plain
smtplib loop that measures how fast it accepts (run in a process of its own, so that client and
sink do not share a GIL, as our worker and the sink do not)."""

import smtplib
import sys
import threading
import time
from collections import Counter
from email.message import EmailMessage
from email.policy import SMTP
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"
SENDER = "alerts@bench.example.com"


class _Counting:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted = 0
        self.by_recipient: Counter[str] = Counter()
        self.first_at: float | None = None
        self.last_at: float | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        now = time.monotonic()
        with self.lock:
            self.accepted += 1
            for recipient in envelope.rcpt_tos:
                self.by_recipient[recipient] += 1
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
        return "250 2.0.0 Accepted"


class SmtpSink:
    """`with SmtpSink() as sink:` a counting SMTP server on a free loopback port."""

    def __init__(self) -> None:
        self.handler = _Counting()
        self.controller = Controller(self.handler, hostname=HOST, port=0)
        self.port = 0

    def __enter__(self) -> Self:
        self.controller.port = _free_port()
        self.controller.start()
        self.port = self.controller.port
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.controller.stop()

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.accepted = 0
            self.handler.by_recipient.clear()
            self.handler.first_at = self.handler.last_at = None

    @property
    def accepted(self) -> int:
        with self.handler.lock:
            return self.handler.accepted

    def duplicates(self) -> int:
        """Messages accepted beyond the first for their recipient."""
        with self.handler.lock:
            return sum(count - 1 for count in self.handler.by_recipient.values() if count > 1)

    def recipients(self) -> int:
        with self.handler.lock:
            return len(self.handler.by_recipient)

    def span(self) -> tuple[float | None, float | None]:
        with self.handler.lock:
            return self.handler.first_at, self.handler.last_at


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def sample_message(text: str, subject: str) -> bytes:
    """A message shaped like ours (text and HTML alternatives) with placeholders for the
    recipient and the Message-ID, so the loop spends its time on SMTP, not on MIME."""
    message = EmailMessage(policy=SMTP)
    message["From"] = f"Bench alerts <{SENDER}>"
    message["To"] = "RCPT"
    message["Subject"] = subject
    message["Message-ID"] = "<MSGID@bench.example.com>"
    message.set_content(text + "\n")
    message.add_alternative(f"<!DOCTYPE html><html><body><p>{text}</p></body></html>\n", "html")
    return message.as_bytes()


def smtplib_loop(port: int, count: int, text: str, subject: str) -> float:
    """Send `count` messages over one connection as fast as smtplib can; returns messages/s."""
    template = sample_message(text, subject)
    connection = smtplib.SMTP(HOST, port, timeout=30)
    started = time.perf_counter()
    for index in range(count):
        recipient = f"plain.{index}@bench.example.com"
        body = template.replace(b"RCPT", recipient.encode()).replace(
            b"MSGID", f"plain.{index}".encode()
        )
        connection.sendmail(SENDER, [recipient], body)
    seconds = time.perf_counter() - started
    connection.quit()
    return count / seconds


if __name__ == "__main__":
    # python bench/_smtp_sink.py PORT COUNT: the plain loop, in a process of its own.
    rate = smtplib_loop(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
    print(f"{rate:.1f}")
