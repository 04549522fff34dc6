"""One browser-level WebAuthn test: Debian's headless Chromium with its virtual
authenticator runs ``navigator.credentials.create`` and ``.get`` with the engine's
options on a page served from loopback, and the engine verifies what the browser sends.

The software authenticator in tests/webauthnsoft.py is built from the specification;
this test shows the options and the verification also fit a real browser (rule MFA-1).
WebAuthn needs a secure context: ``http://localhost`` is one, so the RP id is
``localhost`` and the exact origin ``http://localhost:PORT``.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import pytest
from webauthn.helpers import base64url_to_bytes

from application.twostepports import KeyRefused, RegisteredKey
from infrastructure.securitykeys import WebAuthnSecurityKeys

CHROMIUM = Path("/usr/bin/chromium")
RP_ID = "localhost"
# Chromium's own flags for a quiet, offline, headless run (no sandbox: tests may run as
# root in a container).
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
BROWSER_WAIT_MS = 60_000  # a readiness bound for slow CI, not a measured time

PAGE = """<!doctype html><meta charset="utf-8"><title>running</title>
<script>
async function post(path, body) {
  const r = await fetch(path, {method: "POST", body: JSON.stringify(body)});
  return r.json();
}
async function run() {
  const create = await (await fetch("/options/create")).json();
  const made = await navigator.credentials.create(
    {publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(create)});
  const registered = await post("/result/create", made.toJSON());
  if (!registered.ok) throw new Error("registration refused: " + registered.reason);
  const get = await (await fetch("/options/get")).json();
  const used = await navigator.credentials.get(
    {publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(get)});
  const verified = await post("/result/get", used.toJSON());
  if (!verified.ok) throw new Error("login refused: " + verified.reason);
  document.title = "done";
}
run().catch(e => { document.title = "error: " + e; });
</script>"""


class RelyingParty(ThreadingHTTPServer):
    """The engine's side of both ceremonies, over HTTP on 127.0.0.1."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.keys = WebAuthnSecurityKeys(RP_ID, "Mailhost tests")
        self.origins = (f"http://localhost:{self.server_address[1]}",)
        self.challenges: dict[str, bytes] = {}
        self.registered: RegisteredKey | None = None
        self.new_count: int | None = None
        self.responses: dict[str, str] = {}

    def options(self, ceremony: str) -> dict[str, Any]:
        challenge = secrets.token_bytes(32)
        self.challenges[ceremony] = challenge
        if ceremony == "create":
            return self.keys.registration_options(
                secrets.token_bytes(16), "alice@example.org", challenge, []
            )
        assert self.registered is not None
        return self.keys.authentication_options(
            challenge, [self.registered.credential_id_b64]
        )

    def verify(self, ceremony: str, response: str) -> None:
        self.responses[ceremony] = response
        # Single use, as the application keeps it: taken, not read.
        challenge = self.challenges.pop(ceremony)
        if ceremony == "create":
            self.registered = self.keys.verify_registration(
                response, challenge, self.origins, RP_ID
            )
            return
        assert self.registered is not None
        self.new_count = self.keys.verify_authentication(
            response,
            challenge,
            self.origins,
            RP_ID,
            self.registered,
        )


class _Handler(BaseHTTPRequestHandler):
    server: RelyingParty

    def do_GET(self) -> None:
        if self.path == "/":
            self._send(200, "text/html", PAGE.encode())
        elif self.path in {"/options/create", "/options/get"}:
            options = self.server.options(self.path.rsplit("/", 1)[1])
            self._send(200, "application/json", json.dumps(options).encode())
        else:
            self._send(404, "text/plain", b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        try:
            self.server.verify(self.path.rsplit("/", 1)[1], body)
            answer: dict[str, object] = {"ok": True}
        except KeyRefused as refused:
            answer = {"ok": False, "reason": refused.reason}
        self._send(200, "application/json", json.dumps(answer).encode())

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("MAILHOST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"MAILHOST_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def relying_party() -> Iterator[RelyingParty]:
    server = RelyingParty()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_chromium_registers_and_signs_in_with_a_virtual_authenticator(
    relying_party: RelyingParty,
) -> None:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found; install Debian's chromium package")
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional
    except ImportError:
        _unavailable("playwright (Python) is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            cdp = page.context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            cdp.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "internal",
                        "hasResidentKey": False,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                        "automaticPresenceSimulation": True,
                    }
                },
            )
            page.goto(relying_party.origins[0] + "/")
            page.wait_for_function(
                "document.title !== 'running'", timeout=BROWSER_WAIT_MS
            )
            title = page.title()
        finally:
            browser.close()
    assert title == "done"
    registered = relying_party.registered
    assert registered is not None
    assert relying_party.new_count is not None
    assert relying_party.new_count > registered.sign_count or (
        relying_party.new_count == registered.sign_count == 0
    )
    assert not relying_party.challenges  # both challenges were taken
    # What the browser sent, checked against another origin and another challenge.
    login = relying_party.responses["get"]
    for origins, challenge, reason in (
        (("http://localhost:1",), None, "wrong_origin"),
        (relying_party.origins, secrets.token_bytes(32), "wrong_challenge"),
    ):
        with pytest.raises(KeyRefused) as caught:
            relying_party.keys.verify_authentication(
                login,
                challenge or _challenge_of(login),
                origins,
                RP_ID,
                registered,
            )
        assert caught.value.reason == reason


def _challenge_of(response: str) -> bytes:
    """The challenge the browser signed, read back from its client data."""
    client = json.loads(
        base64url_to_bytes(json.loads(response)["response"]["clientDataJSON"])
    )
    return base64url_to_bytes(client["challenge"])
