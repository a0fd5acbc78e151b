"""`scenestream serve` at its edges: the source policy as pure functions on literal addresses and paths (nothing
resolved, nothing contacted), then the app: the token on every route (routers included later too), the page's
cookie and Content-Security-Policy, bounded bodies and ids, /runs limited to this server's run folders, no CORS, and
end to end a URL to a loopback listener refused without --allow-private-sources (the listener never contacted) and
fetched with it. Every connection here goes to 127.0.0.1."""
from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from scenestream.streams.core.metrics import Metrics
from scenestream.streams.server.app import ServeSettings, create_app
from scenestream.streams.server.guard import COOKIE
from scenestream.streams.server.policy import (Refused, SourcePolicy, address_refusal, bind_refusal,
                                               is_loopback_host, literal_address, token_matches, under_root)
from tests.media import bikes

TOKEN = "a-test-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}

# ------------------------------------------------------------------ the address check, on literals only

REFUSED = {
    "127.0.0.1": "loopback", "127.8.9.10": "loopback", "::1": "loopback",
    "10.0.0.1": "private", "172.16.5.4": "private", "192.168.1.1": "private", "fc00::1": "private",
    "fd12:3456::1": "private",
    "169.254.1.1": "link-local", "fe80::1": "link-local", "fe80::1%eth0": "link-local",
    "169.254.169.254": "metadata", "fd00:ec2::254": "metadata", "100.100.100.200": "metadata",
    "100.64.0.1": "CGNAT", "100.127.255.254": "CGNAT",
    "224.0.0.1": "multicast", "239.255.255.250": "multicast", "ff02::1": "multicast",
    "0.0.0.0": "unspecified", "::": "unspecified",
    "::ffff:127.0.0.1": "loopback", "::ffff:169.254.169.254": "metadata", "::ffff:10.0.0.1": "private",
    "::127.0.0.1": "loopback", "64:ff9b::7f00:1": "loopback", "2002:a9fe:a9fe::1": "metadata",
    "64:ff9b:1::1": "NAT64",
    "192.0.2.1": "", "198.51.100.7": "", "2001:db8::1": "", "240.0.0.1": "", "255.255.255.255": "",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_address_check_refuses(address, no_connections):
    why = address_refusal(address)
    assert why is not None, address
    assert REFUSED[address] in why
    assert address_refusal(ipaddress.ip_address(address.split("%")[0])) is not None  # objects as well as strings


@pytest.mark.parametrize("address", PUBLIC)
def test_address_check_passes_public_addresses(address, no_connections):
    assert address_refusal(address) is None


@pytest.mark.parametrize("written, address", [
    ("127.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("2130706433", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"), ("0251.0376.0251.0376", "169.254.169.254"), ("[::1]", "::1"),
    ("fe80::1%eth0", "fe80::1%eth0"), ("example.com", None), ("1a.example", None), ("localhost", None)])
def test_literal_addresses_are_read_without_a_lookup(written, address, no_connections):
    ip = literal_address(written)
    assert ip == (None if address is None else ipaddress.ip_address(address.split("%")[0]))


def test_bind_needs_a_token_off_loopback():
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"):
        assert is_loopback_host(host) and bind_refusal(host, None) is None, host
    for host in ("0.0.0.0", "::", "", "10.0.0.5", "192.168.1.2", "fe80::1", "myhost", "example.com", "a.localhost"):
        why = bind_refusal(host, None)
        assert why and "token" in why and "\n" not in why, host
        assert bind_refusal(host, TOKEN) is None
    assert "too short" in bind_refusal("127.0.0.1", "short")


def test_token_compare():
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN[:-1] + "x", TOKEN)
    assert not token_matches("", TOKEN) and not token_matches(None, TOKEN)
    assert not token_matches(TOKEN + "x", TOKEN)


def test_paths_under_a_root_follow_symlinks(tmp_path):
    root, outside = tmp_path / "videos", tmp_path / "private"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "a.mp4").write_bytes(b"x")
    (outside / "secret.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    (root / "dirlink").symlink_to(outside)
    (tmp_path / "videos-evil").mkdir()  # a sibling whose name starts like the root
    assert under_root(root / "sub" / "a.mp4", [root]) == (root / "sub" / "a.mp4").resolve()
    assert under_root(root / "sub" / ".." / "sub" / "a.mp4", [root]) is not None
    assert under_root(root / ".." / "private" / "secret.mp4", [root]) is None
    assert under_root(root / "link.mp4", [root]) is None
    assert under_root(root / "dirlink" / "secret.mp4", [root]) is None
    assert under_root(tmp_path / "videos-evil" / "x.mp4", [root]) is None
    assert under_root(root / "link.mp4", [root, outside]) == (outside / "secret.mp4").resolve()
    linked_root = tmp_path / "root-link"
    linked_root.symlink_to(root)
    assert under_root(root / "sub" / "a.mp4", [linked_root]) is not None  # the root's own symlinks are resolved


def _refused(policy: SourcePolicy, source: str) -> Refused:
    with pytest.raises(Refused) as err:
        policy.check(source)
    assert 400 <= err.value.status < 500 and "\n" not in err.value.message
    return err.value


@pytest.fixture
def no_connections(monkeypatch):
    """The policy is checked as a pure function: any attempt to open a connection fails the test (the URLs below
    name private and public addresses only as strings to refuse or pass, never to reach)."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a policy check tried to connect: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_source_policy(tmp_path, no_connections):
    video = tmp_path / "v" / "a.mp4"
    video.parent.mkdir()
    video.write_bytes(b"x")
    looked_up = []

    def resolver(host, port, **kw):  # a unit test of the policy alone: the resolver's answers are given here
        looked_up.append(host)
        answers = {"public.example": ["93.184.216.34"], "mixed.example": ["93.184.216.34", "10.1.2.3"],
                   "meta.example": ["169.254.169.254"], "v6.example": ["fd00:ec2::254"]}
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0))
                for a in answers[host]]

    policy = SourcePolicy(allow_dirs=[tmp_path / "v"], resolve=resolver)
    assert policy.check(str(video)) == str(video.resolve())
    assert policy.check(f"file://{video}") == str(video.resolve())
    assert _refused(SourcePolicy(), str(video)).status == 403  # no --allow-dir: no local file
    assert "outside" in _refused(policy, "/etc/passwd").message
    assert _refused(policy, str(tmp_path / "v" / ".." / "x.mp4")).status == 403
    assert _refused(policy, "file://elsewhere/etc/passwd").status == 400

    assert policy.check("https://public.example/a.mp4") == "https://public.example/a.mp4"
    assert policy.check("rtsp://public.example:8554/cam") == "rtsp://public.example:8554/cam"
    assert policy.check("http://93.184.216.34/x.ts") == "http://93.184.216.34/x.ts"
    for url in ("http://mixed.example/a.mp4", "rtmp://meta.example/live", "https://v6.example/x",
                "http://127.0.0.1:8000/x", "http://[::1]/x", "http://0x7f000001/x", "rtsp://10.0.0.1/cam",
                "http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://user@127.1/"):
        err = _refused(policy, url)
        assert err.status == 403 and "--allow-private-sources" in err.message, url
    for url in ("udp://239.0.0.1:1234", "rtp://127.0.0.1:5004", "ftp://public.example/a", "gopher://x/",
                "concat:/etc/passwd"):
        assert _refused(policy, url).status in (400, 403), url
    assert "scheme" in _refused(policy, "udp://239.0.0.1:1234").message
    assert _refused(policy, "http://nowhere.example/x").status == 400
    assert _refused(policy, "http://x:99999/").status == 400
    assert _refused(policy, "").status == 400 and _refused(policy, "a" * 5000).status == 413
    assert _refused(policy, "/tmp/\x00x").status == 400
    assert "127.0.0.1" not in looked_up and "0x7f000001" not in looked_up  # literals are never looked up

    private = SourcePolicy(allow_private=True, resolve=resolver)
    assert private.check("http://127.0.0.1:8000/x") == "http://127.0.0.1:8000/x"
    assert private.check("http://mixed.example/a.mp4")
    assert _refused(private, "udp://127.0.0.1:1234").status == 403  # the scheme list still holds


# ------------------------------------------------------------------ the app


def _app(tmp_path: Path, **kw):
    settings = ServeSettings(db=tmp_path / "index.db", out=tmp_path / "runs", agents="ingest", **kw)
    return create_app(settings, Metrics())


def _one_line(r) -> str:
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail, r.text
    return detail


def test_token_on_every_route_but_healthz(tmp_path):
    app = _app(tmp_path, token=TOKEN, allow_dirs=[bikes().parent])
    extra = APIRouter()  # a router included after create_app (as /api/ask is): the guard covers it too

    @extra.get("/api/extra")
    def extra_route():
        return {"ok": True}

    app.include_router(extra)
    paths = sorted({r.path.replace("{video_id}", "v").replace("{path:path}", "report.html")
                    for r in app.routes if "GET" in (getattr(r, "methods", None) or ())} | {"/api/extra"})
    assert {"/", "/api/videos", "/api/events", "/api/search", "/runs/v/report.html", "/metrics", "/api/extra",
            "/openapi.json", "/healthz", "/api/videos/v/wait"} <= set(paths)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/healthz").status_code == 200
        app.state.hub.add_video("v", "v.mp4")
        app.state.hub.publish_video("v", "done")  # so that /api/events?video=v&until=done ends
        for path in paths:
            if path == "/healthz":
                continue
            for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
                            {"Cookie": f"{COOKIE}=forged"}):
                r = client.get(path, headers=headers)
                assert r.status_code == 401, (path, headers, r.status_code)
                assert "bearer" in r.headers["www-authenticate"].lower()
                _one_line(r)
            params = {"q": "x", "video": "v", "until": "done", "timeout": "0"}
            assert client.get(path, headers=BEARER, params=params).status_code != 401, path
        r = client.post("/api/videos", json={"source": str(bikes())})
        assert r.status_code == 401 and [v["video_id"] for v in client.get("/api/videos", headers=BEARER).json()] == ["v"]
        assert client.get("/api/extra", headers=BEARER).json() == {"ok": True}
        assert client.get("/api/videos", headers={"Authorization": f"bearer  {TOKEN} "}).status_code == 200

        # The page: `?token=` once sets an HttpOnly, SameSite=Strict cookie and leaves the token out of the address.
        assert client.get("/?video=v1&token=wrong", follow_redirects=False).status_code == 401
        r = client.get(f"/?video=v1&token={TOKEN}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/?video=v1"
        cookie = r.headers["set-cookie"]
        assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = client.get("/?video=v1")  # the client keeps the cookie, as a browser does
        assert page.status_code == 200 and "EventSource" in page.text
        csp = page.headers["content-security-policy"]
        nonce = csp.split("'nonce-")[1].split("'")[0]
        assert f'<script nonce="{nonce}">' in page.text and "unsafe-inline" not in csp
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        assert client.get("/?video=v1").headers["content-security-policy"] != csp  # a fresh nonce per answer
        assert client.get("/api/videos").status_code == 200  # the cookie is the page's key to the API


def test_without_a_token_only_loopback_names(tmp_path):
    app = _app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/videos").status_code == 200
        for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
            assert client.get("/api/videos", headers={"Host": host}).status_code == 200, host
        for host in ("evil.example:8000", "192.168.1.5:8000", "0.0.0.0:8000", ""):
            r = client.get("/api/videos", headers={"Host": host})  # a rebound DNS name, or none
            assert r.status_code == 421, host
            _one_line(r)


def test_bodies_and_ids_are_bounded(tmp_path):
    app = _app(tmp_path, token=TOKEN, allow_dirs=[bikes().parent])
    with TestClient(app, base_url="http://127.0.0.1") as client:
        checks = [
            (client.post("/api/videos", content=b'{"source": "' + b"x" * 70_000 + b'"}',
                         headers={**BEARER, "Content-Type": "application/json"}), 413),
            (client.post("/api/videos", content=(b"x" * 8192 for _ in range(10)),  # chunked, no Content-Length
                         headers={**BEARER, "Content-Type": "application/json"}), 413),
            (client.post("/api/videos", content=b'{"source": "/x"}', headers={**BEARER, "Content-Type": "text/plain"}),
             415),
            (client.post("/api/videos", content=b'{"source": "/x"}', headers=BEARER), 415),  # no Content-Type
            (client.post("/api/videos", content=b"{not json", headers={**BEARER, "Content-Type": "application/json"}),
             422),
            (client.post("/api/videos", json={"source": "x" * 5000}, headers=BEARER), 422),
            (client.post("/api/videos", json={"source": str(bikes()), "video_id": "v" * 101}, headers=BEARER), 422),
            (client.post("/api/videos", json={"source": str(bikes()), "video_id": "../x"}, headers=BEARER), 400),
            (client.post("/api/videos", json={"source": str(bikes()), "extra": 1}, headers=BEARER), 422),
            (client.post("/api/videos", json={}, headers=BEARER), 422),
            (client.get("/api/events", params={"video": "../x"}, headers=BEARER), 400),
            (client.get("/api/events", params={"video": "a", "until": "never"}, headers=BEARER), 400),
            (client.get("/api/videos/" + "v" * 101, headers=BEARER), 400),
            (client.get("/api/videos/v%20x/wait", headers=BEARER), 400),
            (client.get("/api/search", params={"q": "w" * 1001}, headers=BEARER), 413),
            (client.get("/?video=%3Cscript%3E", headers=BEARER), 400),
            (client.get("/nowhere", headers=BEARER), 404),
            (client.delete("/api/videos", headers=BEARER), 405),
        ]
        for i, (r, status) in enumerate(checks):
            assert r.status_code == status, (i, r.status_code, r.text)
            _one_line(r)
        assert client.get("/api/videos", headers=BEARER).json() == []


def test_no_cors(tmp_path):
    app = _app(tmp_path, token=TOKEN)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        pre = client.options("/api/videos", headers={"Origin": "https://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
        got = client.get("/api/videos", headers={**BEARER, "Origin": "https://evil.example"})
        for r in (pre, got):
            assert not [h for h in r.headers if h.lower().startswith("access-control-")], r.headers
            assert r.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in r.headers


def test_runs_serves_only_this_servers_run_folders(tmp_path):
    out, secret = tmp_path / "runs", tmp_path / "secret.txt"
    (out / "other").mkdir(parents=True)
    (out / "other" / "report.html").write_text("<p>not a run of this server</p>")
    secret.write_text("secret")
    app = _app(tmp_path, token=TOKEN, allow_dirs=[bikes().parent])
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.post("/api/videos", json={"source": str(bikes()), "video_id": "b1"}, headers=BEARER)
        assert r.status_code == 202, r.text
        assert client.get("/api/videos/b1/wait", headers=BEARER).json()["status"] == "done"
        (out / "b1" / "leak.txt").symlink_to(secret)  # a symlink in a run folder that leads out of it
        (out / "b1" / "sub").symlink_to(tmp_path)

        r = client.get("/runs/b1/report.html", headers=BEARER)
        assert r.status_code == 200 and "<html" in r.text
        assert "script-src" not in r.headers["content-security-policy"]  # a report runs no script
        assert client.get("/runs/b1/captions.jsonl", headers=BEARER).status_code == 200
        assert client.get("/api/runs", headers=BEARER).json() == [{"video_id": "b1", "report": "/runs/b1/report.html"}]
        for path in ("/runs/other/report.html", "/runs/b1/leak.txt", "/runs/b1/sub/secret.txt",
                     "/runs/b1/.scenestream-serve", "/runs/b1/", "/runs/b1/..%2Fother%2Freport.html",
                     "/runs/..%2Fsecret.txt/x", "/runs/b1/%2E%2E/%2E%2E/secret.txt"):
            r = client.get(path, headers=BEARER)
            assert r.status_code == 404, (path, r.status_code)
            assert "secret" != r.text and "not a run" not in r.text
        # A folder under --out that this server did not make is not taken over by naming it as a video id.
        r = client.post("/api/videos", json={"source": str(bikes()), "video_id": "other"}, headers=BEARER)
        assert r.status_code == 409 and "not a run of this server" in _one_line(r)


class Listener:
    """A plain TCP listener on 127.0.0.1 that counts the connections it gets (and closes each at once)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.contacted = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.contacted.set()
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()
        self.thread.join(5)


def test_a_private_url_is_refused_before_it_is_contacted(tmp_path):
    with Listener() as listener:
        urls = [f"http://127.0.0.1:{listener.port}/live.ts", f"https://127.0.0.1:{listener.port}/a.mp4",
                f"rtsp://127.0.0.1:{listener.port}/cam", f"rtmp://127.0.0.1:{listener.port}/live",
                f"http://localhost:{listener.port}/live.ts",  # a name, resolved by getaddrinfo (to loopback)
                f"http://0x7f000001:{listener.port}/live.ts", f"http://127.1:{listener.port}/x",
                f"http://[::ffff:127.0.0.1]:{listener.port}/x"]
        app = _app(tmp_path / "refuse", token=TOKEN)
        with TestClient(app, base_url="http://127.0.0.1") as client:
            for url in urls:
                r = client.post("/api/videos", json={"source": url}, headers=BEARER)
                assert r.status_code == 403 and "--allow-private-sources" in _one_line(r), (url, r.text)
            assert client.get("/api/videos", headers=BEARER).json() == []
        assert listener.accepted == 0 and not listener.contacted.is_set()

        # The same URL with --allow-private-sources: accepted, and the server does reach the listener (which
        # then closes the connection, so the video fails: it was fetched, which is what is shown here).
        app = _app(tmp_path / "allow", token=TOKEN, allow_private_sources=True)
        with TestClient(app, base_url="http://127.0.0.1") as client:
            r = client.post("/api/videos", json={"source": urls[0], "video_id": "lo"}, headers=BEARER)
            assert r.status_code == 202, r.text
            assert listener.contacted.wait(120), "the allowed URL was never fetched"
            assert client.get("/api/videos/lo/wait", params={"timeout": 120}, headers=BEARER).json()["status"] == \
                "failed"
        assert listener.accepted >= 1


def test_serve_refuses_a_public_bind_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SCENESTREAM_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "streams", "serve", "--db", str(tmp_path / "i.db"), "--out",
                           str(tmp_path / "runs"), "--host", "0.0.0.0", "--port", "1"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=Path(__file__).parents[2])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "without a token" in lines[0] and "SCENESTREAM_TOKEN" in lines[0], proc.stderr
    assert not (tmp_path / "runs").exists()  # refused before anything was made (or bound)


@pytest.mark.slow
def test_page_with_a_token_runs_under_its_policy(tmp_path):
    """In Chromium: the page opened once with `?token=` gets its cookie, its script runs under the CSP (by nonce)
    and its event stream connects with the cookie: it shows a video the server holds and sees its end."""
    from tests.outputs.browser import chromium, dump_dom, parse
    from tests.outputs.test_serve import LiveServer

    chromium()
    app = _app(tmp_path, token=TOKEN)
    with LiveServer(app) as server:
        hub = app.state.hub
        hub.add_video("v1", "somewhere.mp4")
        hub.publish_scene({"video_id": "v1", "index": 0, "start": 0.0, "end": 1.0,
                           "caption": "<script>alert(1)</script> a caption"}, None)
        hub.publish_video("v1", "done", scenes=1)
        dom = dump_dom(f"{server.base}/?video=v1&until=done&token={TOKEN}", budget_ms=10_000)
        body = parse(dom).find_all("body")[0]
        assert body.attrs.get("data-finished") == "1"  # set by the page's script when the stream said `done`
        [card] = body.find_all("li", "scene")
        assert "<script>alert(1)</script> a caption" in card.all_text()  # shown as text, never as markup
        assert not dump_dom(f"{server.base}/?video=v1&until=done", budget_ms=2_000).count("data-finished")
