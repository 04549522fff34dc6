"""Push and SMS gateways for real: signed POSTs to a local HTTP server that checks the
signature itself, errors for non-2xx, timeouts and redirects, and 0600 outbox files."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import get_context
from pathlib import Path

import pytest

from application.twostepports import PushGateway, SmsGateway
from infrastructure.gateways import SIGNATURE_HEADER, GatewayError
from infrastructure.pushgateway import HttpPushGateway, OutboxPushGateway
from infrastructure.smsgateway import HttpSmsGateway, OutboxSmsGateway

KEY = secrets.token_bytes(32)
CODE = "493817"


class Gateway(ThreadingHTTPServer):
    """A provider's gateway: verifies the signature with the shared key, as it must."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, object]] = []
        self.refused_signatures = 0
        self.status = 200
        self.redirect_to: str | None = None
        self.hang = threading.Event()  # set: answer; clear: hold the request
        self.hang.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/send"


class _Handler(BaseHTTPRequestHandler):
    server: Gateway

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(KEY, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(self.headers.get(SIGNATURE_HEADER, ""), expected):
            self.server.refused_signatures += 1
            self._answer(401)
            return
        assert self.headers["Content-Type"] == "application/json"
        self.server.hang.wait(30)
        if self.server.redirect_to:
            self.send_response(307)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.received.append(json.loads(body))
        self._answer(self.server.status)

    def _answer(self, status: int) -> None:
        payload = f"echo: {CODE}".encode()  # a body the client must never repeat
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.hang.set()
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_signed_push_reaches_the_gateway(gateway: Gateway) -> None:
    push: PushGateway = HttpPushGateway(gateway.url, KEY)
    text = "Type the number shown on the sign-in page."
    push.send("Alice's phone", "c-1", text)
    assert gateway.refused_signatures == 0
    # No number: the user reads it off the sign-in page (number matching, ASVS 6.6.4).
    assert gateway.received == [
        {
            "kind": "push",
            "device": "Alice's phone",
            "challenge_id": "c-1",
            "text": text,
        }
    ]


def test_a_signed_sms_reaches_the_gateway(gateway: Gateway) -> None:
    sms: SmsGateway = HttpSmsGateway(gateway.url, KEY)
    sms.send("+41791234567", f"Your code is {CODE}")
    assert gateway.received == [
        {"kind": "sms", "to": "+41791234567", "text": f"Your code is {CODE}"}
    ]


def test_the_gateway_refuses_another_key(gateway: Gateway) -> None:
    # The server-side check is real: a wrong key is a 401, which the sender reports.
    sms = HttpSmsGateway(gateway.url, secrets.token_bytes(32))
    with pytest.raises(GatewayError, match="HTTP 401") as caught:
        sms.send("+41791234567", f"Your code is {CODE}")
    assert gateway.refused_signatures == 1
    assert gateway.received == []
    assert CODE not in str(caught.value)


@pytest.mark.parametrize("status", [400, 500, 503])
def test_a_non_2xx_answer_is_an_error_without_the_code(
    gateway: Gateway, status: int
) -> None:
    gateway.status = status
    with pytest.raises(GatewayError, match=f"HTTP {status}") as caught:
        HttpSmsGateway(gateway.url, KEY).send("+41791234567", f"Your code is {CODE}")
    assert CODE not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_a_redirect_is_not_followed(gateway: Gateway) -> None:
    gateway.redirect_to = "http://127.0.0.1:9/elsewhere"
    with pytest.raises(GatewayError, match="HTTP 307"):
        HttpPushGateway(gateway.url, KEY).send("phone", "c-1", "Sign in?")


def test_a_gateway_that_does_not_answer_times_out(gateway: Gateway) -> None:
    gateway.hang.clear()
    with pytest.raises(GatewayError, match="could not be reached"):
        HttpPushGateway(gateway.url, KEY, timeout=0.2).send("p", "c", "Sign in?")


def test_an_unreachable_gateway_is_an_error() -> None:
    with pytest.raises(GatewayError, match="could not be reached"):
        HttpSmsGateway("http://127.0.0.1:9/send", KEY).send("+41791234567", CODE)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://gateway.example.org/send", "https"),
        ("ftp://127.0.0.1/send", "https://"),
        ("https://user:pw@gateway.example.org/", "user or password"),
        ("https:///nohost", "https://"),
        ("http://127.0.0.1:99999/", "not a URL"),
    ],
)
def test_bad_urls_are_refused_at_construction(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        HttpSmsGateway(url, KEY)
    assert "pw" not in str(caught.value)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        HttpPushGateway("https://gateway.example.org/", b"short")


def test_https_and_loopback_http_are_accepted() -> None:
    HttpPushGateway("https://gateway.example.org/push", KEY)
    HttpPushGateway("http://[::1]:8080/push", KEY)
    assert "gateway.example.org:443" in repr(
        HttpSmsGateway("https://gateway.example.org/sms", KEY)
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_outboxes_are_private_json_lines(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        outbox = tmp_path / "home" / "outbox"
        push: PushGateway = OutboxPushGateway(outbox)
        sms: SmsGateway = OutboxSmsGateway(outbox)
        push.send("phone", "c-1", "Sign in?")
        push.send("phone", "c-2", "Sign in?")
        sms.send("+33612345678", f"Code {CODE}")
    finally:
        os.umask(previous)
    assert _mode(outbox) == 0o700
    assert _mode(outbox / "push.jsonl") == 0o600
    assert _mode(outbox / "sms.jsonl") == 0o600
    lines = (outbox / "push.jsonl").read_text().splitlines()
    assert [json.loads(line)["challenge_id"] for line in lines] == ["c-1", "c-2"]
    assert all("number" not in json.loads(line) for line in lines)
    (line,) = (outbox / "sms.jsonl").read_text().splitlines()
    assert json.loads(line) == {
        "kind": "sms",
        "to": "+33612345678",
        "text": f"Code {CODE}",
    }


def test_an_existing_wide_outbox_file_is_narrowed(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir(mode=0o755)
    (outbox / "sms.jsonl").write_text("")
    (outbox / "sms.jsonl").chmod(0o644)
    OutboxSmsGateway(outbox).send("+32470123456", CODE)
    assert _mode(outbox) == 0o700
    assert _mode(outbox / "sms.jsonl") == 0o600


def _send_many(outbox: str, worker: int) -> None:
    gateway = OutboxSmsGateway(Path(outbox))
    for i in range(200):
        gateway.send("+4915112345678", f"{worker}-{i}-" + "x" * 3000)


def test_concurrent_processes_write_whole_lines(tmp_path: Path) -> None:
    # Lines longer than a pipe buffer from four processes: flock keeps each one whole.
    context = get_context("spawn")
    procs = [
        context.Process(target=_send_many, args=(str(tmp_path), w)) for w in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        assert proc.exitcode == 0
    lines = (tmp_path / "sms.jsonl").read_text().splitlines()
    texts = {json.loads(line)["text"].rsplit("-", 1)[0] for line in lines}
    assert len(lines) == 800
    assert texts == {f"{w}-{i}" for w in range(4) for i in range(200)}
