"""A browser's part over HTTP or HTTPS, enough for the staff console's process tests and the
benchmark's publish figure: it keeps cookies, never follows redirects, finds a page's CSRF token,
and does the few things staff do there (edit an answer, publish)."""

from __future__ import annotations

import html
import http.client
import re
import ssl
import time
from typing import Callable, Dict, Optional, Tuple
from urllib.parse import urlencode

PASSWORD = "correct horse battery"


class Client:
    """One browser's cookies, over HTTP (or HTTPS with ``tls``), never following redirects; ``origin``
    is sent as the ``Origin`` of every POST, as a browser sends it."""

    def __init__(
        self,
        port: int,
        forwarded_for: Optional[str] = None,
        tls: Optional[ssl.SSLContext] = None,
        origin: Optional[str] = None,
    ) -> None:
        self.port = port
        self.cookies: Dict[str, str] = {}
        self.set_cookies: Dict[str, str] = {}  # the last Set-Cookie header of each name, attributes included
        self.forwarded_for = forwarded_for
        self.tls = tls
        self.origin = origin

    def request(self, method: str, path: str, form=None, body: Optional[bytes] = None) -> Tuple[int, dict, str]:
        headers = {}
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        if self.origin and method == "POST":
            headers["Origin"] = self.origin
        if self.tls is not None:
            connection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.tls)
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                name, value = header.split(";", 1)[0].split("=", 1)
                self.set_cookies[name] = header
                if "Max-Age=0" in header:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
            return response.status, {key.lower(): value for key, value in response.getheaders()}, text
        finally:
            connection.close()

    def token(self, path: str = "/login") -> str:
        _, _, page = self.request("GET", path)
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def log_in(self, name: str, password: str = PASSWORD) -> Tuple[int, dict, str]:
        return self.request("POST", "/login", {"csrf_token": self.token(), "username": name, "password": password})

    def edit_answer(self, topic: str, answer: Callable[[str], str]) -> Tuple[int, dict, str]:
        """Saves the topic's answer as ``answer(the answer now)`` from its page's form (label and
        sources as they are)."""
        _, _, page = self.request("GET", f"/topics/{topic}")
        now = html.unescape(re.search(r'<textarea[^>]*name="answer"[^>]*>(.*?)</textarea>', page, re.S).group(1))
        form = [
            ("csrf_token", re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)),
            ("version", re.search(r'name="version" value="([0-9a-f]+)"', page).group(1)),
            ("label", html.unescape(re.search(r'name="label"[^>]*value="([^"]*)"', page).group(1))),
            ("answer", answer(now.strip())),
            *(("sources", source) for source in re.findall(r'name="sources" value="([^"]+)" checked', page)),
        ]
        return self.request("POST", f"/topics/{topic}/answer", form)

    def press(self, path: str) -> Tuple[int, dict, str]:
        """Posts the page's one-button form at ``path`` (Publish, Undo) with the session's token."""
        return self.request("POST", path, {"csrf_token": self.token("/publish")})

    def publish_ended(self, timeout: float = 240.0) -> str:
        """Waits until no publish is running; returns the /publish page then."""
        deadline = time.monotonic() + timeout
        while True:
            _, _, page = self.request("GET", "/publish")
            if "Publishing now" not in page or time.monotonic() > deadline:
                return page
            time.sleep(0.2)
