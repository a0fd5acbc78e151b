"""The door of `scenestream serve`: one ASGI middleware around the whole app, so every route is covered, those of
routers included later too, before any route runs.

- With a token: every request but `GET /healthz` carries it, as `Authorization: Bearer TOKEN` (API clients) or as
  the cookie a browser got by opening any page once with `?token=TOKEN` (the answer sets the cookie, HttpOnly and
  SameSite=Strict, and redirects to the same address without the token, so it stays out of history and logs). A
  page cannot put a header on an EventSource, hence the cookie; SameSite=Strict keeps other sites' pages from using it.
- Without a token (serve allows that only on a loopback address): the Host header must be a loopback name, so a web
  page whose DNS name is rebound to 127.0.0.1 cannot talk to the server.
- Request bodies: at most `max_body` bytes (413), and a body is JSON (415): a cross-site form or a `no-cors` fetch
  cannot send one without a CORS preflight, which this server never answers (no CORS headers at all).
- Every answer gets `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, and a
  Content-Security-Policy unless the route set its own (the live page does, with a nonce for its inline script).

Hand-written as a plain ASGI middleware (not Starlette's BaseHTTPMiddleware) because that one buffers streaming
answers, and the event stream must flow."""
from __future__ import annotations

import hashlib
import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

import orjson

from scenestream.streams.server.policy import is_loopback_host, token_matches

COOKIE = "scenestream_session"
OPEN_PATHS = frozenset({"/healthz"})
MAX_BODY = 64 * 1024
# JSON and plain answers: nothing to run, nothing to load, never framed.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def session_value(token: str) -> str:
    """The cookie's value: derived from the token (an HMAC), so a cookie is never the token itself and any token
    characters are fine in a cookie."""
    return hmac.new(token.encode(), b"scenestream serve session", hashlib.sha256).hexdigest()


async def refuse(send, status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    """A 4xx with one line: `{"detail": "..."}`."""
    body = orjson.dumps({"detail": " ".join(message.split())})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *_security_headers(DEFAULT_CSP), *headers]})
    await send({"type": "http.response.body", "body": body})


def _security_headers(csp: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]


class Guard:
    def __init__(self, app, token: str | None = None, max_body: int = MAX_BODY):
        self.app = app
        self.token = token
        self.session = session_value(token) if token else None
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":  # no websockets here
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        headers = {}
        for k, v in scope["headers"]:
            headers.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))

        if self.token is None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not is_loopback_host(name):
                return await refuse(send, 421, f"this server has no token, so it answers only to a loopback name "
                                               f"(127.0.0.1, localhost), not to Host {host[:100]!r}")
        elif scope["path"] not in OPEN_PATHS:
            done = await self._authenticate(scope, headers, send)
            if done:
                return

        receive = await self._bounded_body(scope, headers, receive, send)
        if receive is None:
            return

        async def send_secured(message):
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [h for h in _security_headers(DEFAULT_CSP) if h[0] not in have]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_secured)

    async def _authenticate(self, scope, headers: dict, send) -> bool:
        """True if the request was answered here (refused, or the `?token=` redirect)."""
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and token_matches(auth[7:].strip(), self.token):
            return False
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no session
            cookie = SimpleCookie()
        if COOKIE in cookie and token_matches(cookie[COOKIE].value, self.session):
            return False
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if given and scope["method"] == "GET":
            if not token_matches(given[-1], self.token):
                await refuse(send, 401, "wrong token", [(b"www-authenticate", b'Bearer realm="scenestream"')])
                return True
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope.get("root_path", "") + scope["path"] + ("?" + rest if rest else "")
            await send({"type": "http.response.start", "status": 303, "headers": [
                (b"location", location.encode("latin-1")), (b"content-length", b"0"),
                (b"set-cookie", f"{COOKIE}={self.session}; Path=/; HttpOnly; SameSite=Strict".encode()),
                (b"cache-control", b"no-store"), *_security_headers(DEFAULT_CSP)]})
            await send({"type": "http.response.body", "body": b""})
            return True
        why = "wrong token" if auth else ("this server needs its token: send `Authorization: Bearer TOKEN`, or open "
                                          "the page once as /?token=TOKEN")
        await refuse(send, 401, why, [(b"www-authenticate", b'Bearer realm="scenestream"')])
        return True

    async def _bounded_body(self, scope, headers: dict, receive, send):
        """A receive that replays the request's body, read here whole (at most `max_body` bytes); None if the
        request was refused. Requests without a body pass through untouched."""
        length = headers.get("content-length")
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and not length and \
                "transfer-encoding" not in headers:
            return receive
        if length is not None:
            if not length.isdigit():
                await refuse(send, 400, "bad Content-Length")
                return None
            if int(length) > self.max_body:
                await refuse(send, 413, f"the request body is larger than {self.max_body} bytes")
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                await refuse(send, 413, f"the request body is larger than {self.max_body} bytes")
                return None
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if body and kind != "application/json":
            await refuse(send, 415, "the request body must be JSON (Content-Type: application/json)")
            return None
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the client's disconnect, as the app may wait for it

        return replay


__all__ = ["COOKIE", "DEFAULT_CSP", "Guard", "MAX_BODY", "refuse", "session_value"]
