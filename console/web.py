"""What every console request and response shares: who sent it, over what, its cookies and headers.

The console trusts ``X-Forwarded-For`` and ``X-Forwarded-Proto`` only from a peer on this
machine: nginx on the same server (deploy/nginx/staff-console.conf). A request arriving straight
from the network carries whatever headers its sender chose, so there the connection's own
address and scheme count.
"""

from __future__ import annotations

import hmac
from typing import Optional
from urllib.parse import urlsplit

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from clinic.settings import is_loopback

SESSION_COOKIE = "console_session"
LOGIN_COOKIE = "console_login"  # the login form's CSRF token, before there is a session

# No script, no frame, no form posting anywhere but here, nothing loaded from another site.
CONTENT_SECURITY_POLICY = "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it browsers send "Origin: null" with the console's own forms.
    "Referrer-Policy": "same-origin",
}


def from_local_proxy(request: Request) -> bool:
    """Whether the connection comes from this machine (nginx in front, or a local tool)."""
    return bool(request.ip) and is_loopback(request.ip)


def client_address(request: Request) -> str:
    """The address failed logins count under: the last ``X-Forwarded-For`` entry (the one nginx
    appended) when the peer is on this machine, else the peer's own address."""
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and from_local_proxy(request):
        last = forwarded.split(",")[-1].strip()
        if last:
            return last[:64]
    return (request.ip or "unknown")[:64]


def over_https(request: Request, secure_cookies: bool) -> bool:
    """Whether the browser reached us over HTTPS: always with ``CONSOLE_SECURE_COOKIES=1``, else
    when nginx on this machine says so."""
    if secure_cookies:
        return True
    return from_local_proxy(request) and request.headers.get("x-forwarded-proto", "").strip().lower() == "https"


def cookie_name(base: str, secure: bool) -> str:
    """Over HTTPS the ``__Host-`` prefix: browsers then refuse the cookie from a sibling subdomain
    or over plain HTTP, so nobody can plant a session or a CSRF token of their own."""
    return f"__Host-{base}" if secure else base


def set_cookie(response: HTTPResponse, name: str, value: str, secure: bool, max_age: Optional[int] = None) -> None:
    """An HttpOnly, SameSite=Strict cookie for the whole console (Secure over HTTPS)."""
    response.cookies[name] = value
    cookie = response.cookies[name]
    cookie["path"] = "/"
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    if secure:
        cookie["secure"] = True
    if max_age is not None:
        cookie["max-age"] = max_age


def clear_cookie(response: HTTPResponse, name: str, secure: bool) -> None:
    """Tells the browser to forget ``name`` now."""
    set_cookie(response, name, "", secure, max_age=0)


def same_token(sent: Optional[str], expected: Optional[str]) -> bool:
    """Whether a form's CSRF token is the one expected (both present), compared in constant time."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def foreign_origin(request: Request) -> bool:
    """Whether the browser says the form was sent from a page of another site (``Origin`` names
    another host than the one it asked). No ``Origin``, or ``null`` (what privacy settings and
    sandboxed frames send), proves nothing either way: the CSRF token decides."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() != (request.headers.get("host") or "").lower()


def redirect(to: str) -> HTTPResponse:
    """A 303 See Other: the browser follows it with a GET, whatever the request was."""
    return response.redirect(to, status=303)
