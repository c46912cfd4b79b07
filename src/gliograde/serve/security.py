"""The server's guards, as plain ASGI middleware: token, body size, response headers, a log without identities.

* **Token** (when the server has one): every request carries ``Authorization: Bearer T`` or the session cookie;
  opening any page with ``?token=T`` sets the cookie (HttpOnly, SameSite=Strict) and redirects to the same page
  without the token, so it stays out of the address bar and history. Anything else gets 401 JSON.
* **Body size**: a request whose ``Content-Length`` passes the limit is refused before it is read; one without a
  length is counted as it arrives and cut off at the limit (413 JSON).
* **Headers**: a Content-Security-Policy that allows this origin only (no CDN can be reached from the pages),
  ``nosniff``, no referrer, no framing; ``no-store`` except for the pages' static files.
* **Log**: method, path (aliases only, never the query, which may hold the token), status and milliseconds;
  uvicorn's own access log is off.
"""
from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

logger = logging.getLogger("gliograde.serve")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "gliograde_session"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self' data: blob:; worker-src 'self' blob:; font-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                    (b"cache-control", b"no-store")]


async def send_json(send: Send, status: int, error: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """A complete JSON error response ``{"error": ..., "status": ...}``."""
    body = json.dumps({"error": error, "status": status}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *SECURITY_HEADERS, *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _cookie(header: bytes, name: str) -> str | None:
    for part in header.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class TokenGuard:
    """Refuse every request without the token (see the module docstring); ``token=None`` lets all through."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    def _ok(self, given: str | None) -> bool:
        return given is not None and self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        auth = headers.get(b"authorization", b"").decode("latin-1")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if self._ok(bearer) or self._ok(_cookie(headers.get(b"cookie", b""), COOKIE)):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((v for k, v in query if k == "token"), None)
        if self._ok(given) and scope.get("method") == "GET":
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope.get("path", "/") + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                                    (b"content-length", b"0"), *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_json(send, 401, "this server needs its token: open the page as /?token=T, or send "
                                   "'Authorization: Bearer T'", [(b"www-authenticate", b"Bearer")])


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 JSON (see the module docstring)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = (f"upload larger than the server's limit of {self.limit // (1024 * 1024)} MiB; send one case, "
                   "or start the server with a larger --max-upload-mb")
        length = _headers(scope).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await send_json(send, 413 if length.isdigit() else 400,
                            message if length.isdigit() else "bad Content-Length header")
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return msg

        async def tracked(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await send_json(send, 413, message)


class _TooLarge(Exception):
    """Raised inside the app's receive when the body passes the limit (caught by :class:`BodyLimit`)."""


class HeadersAndLog:
    """Add :data:`SECURITY_HEADERS` to every response and log one line per request (no query string)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0, status = time.perf_counter(), 0

        async def wrapped(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = int(msg["status"])
                names = {k.lower() for k, _ in msg.get("headers", [])}
                if str(scope.get("path", "")).startswith("/static/"):  # the pages' own files may be cached
                    names.add(b"cache-control")
                msg["headers"] = [*msg.get("headers", []), *(h for h in SECURITY_HEADERS if h[0] not in names)]
            await send(msg)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            logger.info("%s %s %s %.0f ms", scope.get("method"), scope.get("path"), status or "-",
                        (time.perf_counter() - t0) * 1e3)
