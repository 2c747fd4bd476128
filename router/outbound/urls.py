"""Which callback URLs the router may call: http(s) only, and no private, loopback or link-local address outside
dev mode (the router must not become a proxy into the shop's or its own internal network: SSRF).

The check runs when a URL is registered and again before every delivery (a DNS name may be re-pointed later).
A name re-pointed between this check and the connection itself is not caught (DNS rebinding within one lookup
interval); deployments that must rule it out put the router behind an egress proxy.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from router.outbound.errors import UnsafeUrl


def check_url(url: str, *, allow_private: bool, require_https: bool, resolve: bool = True) -> None:
    """Raise :class:`UnsafeUrl` with a reason when the router must not call ``url``."""
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise UnsafeUrl(url, "the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise UnsafeUrl(url, "not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl(url, "only http and https callback URLs are allowed")
    if require_https and parts.scheme != "https":
        raise UnsafeUrl(url, "the callback URL must use https outside dev mode")
    if not parts.hostname:
        raise UnsafeUrl(url, "the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl(url, "credentials in the URL are not allowed; verify the signature header instead")
    if allow_private or not resolve:
        return
    for address in _addresses(parts.hostname, port or (443 if parts.scheme == "https" else 80), url):
        if not address.is_global or address.is_multicast:
            raise UnsafeUrl(url, f"{parts.hostname} resolves to a non-public address ({address})")


def _addresses(host: str, port: int, url: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(url, f"cannot resolve {host}") from exc
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        found.append(address)
    return found
