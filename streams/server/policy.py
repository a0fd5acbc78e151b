"""What `scenestream serve` lets a client do: the checks on a submitted source, on the bind address and on a token.

Pure functions on literal values (addresses, paths, strings), unit-tested without any network. Host names are
resolved in one place only, `SourcePolicy.addresses` (socket.getaddrinfo, or the resolver it is given), and every
address a name resolves to must pass: a name with one public and one private address is refused.

- `address_refusal(ip)`: why an address is not one a server should fetch from for a client (loopback, private,
  link-local, shared/CGNAT, multicast, unspecified, reserved, a cloud metadata address), IPv4 inside IPv6
  (mapped, compatible, NAT64, 6to4, Teredo) judged as the IPv4 address it carries; None if it is public.
- `under_root(path, roots)`: the path with symlinks followed and `..` folded, if that lands under one of the roots.
- `SourcePolicy.check(source)`: a submitted path or URI, or `Refused` (a 4xx and one line).
- `bind_refusal(host, token)`: serve binds a non-loopback address only with a token.

What the check cannot see: it judges the URL it is given. FFmpeg follows HTTP redirects and the entries of an HLS/DASH
playlist, and resolves the host again when it connects; a server that must not reach its private network also needs
that enforced below it (egress rules), as for any URL fetcher."""
from __future__ import annotations

import hmac
import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata services (AWS, GCP, Azure, OpenStack: 169.254.169.254; AWS's IPv6 one; Alibaba's;
# Oracle's 192.0.0.192). All are private or link-local anyway; named so the refusal says what was asked for.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"))

# The schemes a client may submit, by default: files (under --allow-dir) and the network sources the ingest reads.
# udp:// and rtp:// are left out: as an FFmpeg input they make the server listen, not fetch.
DEFAULT_SCHEMES = ("file", "http", "https", "rtsp", "rtsps", "rtmp", "rtmps")
MIN_TOKEN = 16
MAX_SOURCE = 4096  # characters of a submitted path or URI


class Refused(Exception):
    """A request the policy refuses: `status` (4xx) and one line for the client."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = " ".join(str(message).split())
        super().__init__(self.message)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it is one: a connection to it reaches that IPv4 host."""
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002:AABB:CCDD::/48
        return ip.sixtofour
    if ip.teredo is not None:  # 2001:0::/32: (server, client); the client is the host reached
        return ip.teredo[1]
    packed = ip.packed
    if packed[:12] == bytes(12) and int(ip) > 1:  # ::a.b.c.d, deprecated IPv4-compatible (not :: or ::1)
        return ipaddress.IPv4Address(packed[12:])
    if ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64, the well-known prefix
        return ipaddress.IPv4Address(packed[12:])
    return None


def address_refusal(ip: IPAddress | str) -> str | None:
    """Why a server must not connect to `ip` for a client, in a few words; None for a public unicast address."""
    ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(ip.compressed.split("%")[0])
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = address_refusal(inner)
            return f"{why} (as {ip})" if why else None
    if ip in METADATA:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("64:ff9b:1::/48"):
        return "a local-use NAT64 address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a shared (CGNAT) address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """`host` as an address if it is written as one (without resolving anything): dotted or bracketed IPv6, an IPv6
    zone, and the short, octal and hex IPv4 forms that inet_aton (and so FFmpeg's getaddrinfo) accepts, such as
    `127.1` or `0x7f000001`."""
    h = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(h.split("%")[0] if ":" in h else h)
    except ValueError:
        pass
    if h and all(c in "0123456789abcdefxABCDEFX." for c in h) and h[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))  # a parse of the string, no lookup
        except OSError:
            return None
    return None


def is_loopback_host(host: str, subdomains: bool = True) -> bool:
    """Whether a bind or Host name is loopback as written: `localhost` (and, for a Host header, `*.localhost`, which
    browsers keep on loopback themselves) or a loopback literal; nothing is looked up."""
    h = host.strip().rstrip(".").lower()
    if h == "localhost" or (subdomains and h.endswith(".localhost")):
        return True
    ip = literal_address(h)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip is not None and ip.is_loopback


def bind_refusal(host: str, token: str | None) -> str | None:
    """Why serve must not start on `host` with this token; None if it may. A name other than `localhost` counts as
    non-loopback: what it resolves to is not looked up here."""
    if token is not None and len(token) < MIN_TOKEN:
        return f"the token is too short: at least {MIN_TOKEN} characters (e.g. `openssl rand -hex 24`)"
    if token is None and not is_loopback_host(host, subdomains=False):  # uvicorn would look up x.localhost
        return (f"refusing to listen on {host or 'every address'} without a token: anyone who reaches the port "
                "could submit videos and read the runs. Set SCENESTREAM_TOKEN (or --token), or listen on 127.0.0.1")
    return None


def token_matches(given: str | None, token: str) -> bool:
    """A constant-time comparison (hmac.compare_digest), so the answer's timing says nothing of the token."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def under_root(path: str | os.PathLike, roots: Iterable[Path]) -> Path | None:
    """`path` with every symlink followed and `..` folded (os.path.realpath), if it lies under one of `roots`
    (themselves resolved); else None. A relative path is taken from the current directory."""
    real = Path(os.path.realpath(os.path.expanduser(os.fspath(path))))
    for root in roots:
        root = Path(os.path.realpath(root))
        if real == root or real.is_relative_to(root):
            return real
    return None


Resolver = Callable[..., list]


@dataclass
class SourcePolicy:
    """The sources a client may submit: local files under `allow_dirs` only, URIs of `schemes` only, and network
    hosts that are public unless `allow_private` (every address a host name resolves to is checked)."""

    allow_dirs: list[Path] = field(default_factory=list)
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    allow_private: bool = False
    resolve: Resolver = socket.getaddrinfo  # the one place a host name is resolved

    def check(self, source: str) -> str:
        """The source to run (a local path as its real path), or Refused."""
        source = source.strip()
        if not source:
            raise Refused(400, "the source is empty")
        if len(source) > MAX_SOURCE:
            raise Refused(413, f"the source is longer than {MAX_SOURCE} characters")
        if "\x00" in source:
            raise Refused(400, "the source contains a NUL character")
        if "://" not in source:
            return self.local(source)
        try:
            parts = urlsplit(source)
            port = parts.port  # raises ValueError on a bad port
        except ValueError as exc:
            raise Refused(400, f"malformed URI: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            raise Refused(403, f"the scheme {scheme!r} is not allowed here (allowed: {', '.join(self.schemes)})")
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise Refused(400, "a file URI with a remote host")
            return self.local(unquote(parts.path))
        if not parts.hostname:
            raise Refused(400, "malformed URI: no host")
        if not self.allow_private:
            for ip in self.addresses(parts.hostname, port):
                why = address_refusal(ip)
                if why:
                    raise Refused(403, f"the host {parts.hostname} is {why}: private sources are refused "
                                       "(start serve with --allow-private-sources to allow them)")
        return source

    def local(self, path: str) -> str:
        if not self.allow_dirs:
            raise Refused(403, "local files are not allowed here (start serve with --allow-dir DIR)")
        try:
            real = under_root(path, self.allow_dirs)
        except (OSError, ValueError) as exc:
            raise Refused(400, f"bad path: {exc}") from None
        if real is None:
            raise Refused(403, "the path is outside the allowed folders (--allow-dir), symlinks followed")
        return str(real)

    def addresses(self, host: str, port: int | None) -> list[IPAddress]:
        """Every address `host` stands for: itself if it is a literal, else what the resolver says."""
        ip = literal_address(host)
        if ip is not None:
            return [ip]
        try:
            infos = self.resolve(host, port, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            raise Refused(400, f"the host {host} does not resolve ({exc})") from None
        found = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        if not found:
            raise Refused(400, f"the host {host} does not resolve")
        return found


__all__ = ["DEFAULT_SCHEMES", "METADATA", "Refused", "SourcePolicy", "address_refusal", "bind_refusal",
           "is_loopback_host", "literal_address", "token_matches", "under_root"]
