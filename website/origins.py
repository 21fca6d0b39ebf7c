"""Which web sites may use the assistant from a visitor's browser (CORS).

Only the origins the clinic lists (``clinic.yml`` ``website.allowed_origins``, or
``WEBSITE_ALLOWED_ORIGINS``) and the assistant's own pages (the demo) are allowed;
there is no wildcard. Requests without an ``Origin`` header do not come from a web
page's script (curl, a server, a test) and are not subject to CORS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, Optional

from clinic.profile import normalise_origin

PREFLIGHT_MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class OriginPolicy:
    """The origins allowed to call the website channel from a browser."""

    allowed: FrozenSet[str]

    @classmethod
    def of(cls, origins: Iterable[str]) -> "OriginPolicy":
        return cls(frozenset(normalise_origin(origin) for origin in origins))

    def permits(self, origin: Optional[str], own_origin: Optional[str]) -> bool:
        """Whether a request with this ``Origin`` header may be served.

        ``own_origin`` is the assistant's own origin as the request reached it
        (the demo page and widget served from the bot host call it same-origin).
        """
        if origin is None:
            return True
        try:
            wanted = normalise_origin(origin)
        except ValueError:
            return False  # "null" (sandboxed frames, file://) and garbage
        if own_origin is not None:
            try:
                if wanted == normalise_origin(own_origin):
                    return True
            except ValueError:
                pass
        return wanted in self.allowed

    def headers(self, origin: Optional[str], preflight: bool = False) -> Dict[str, str]:
        """CORS response headers for a permitted ``origin`` (none when there is no Origin)."""
        headers = {"Vary": "Origin"}
        if origin is None:
            return headers
        headers["Access-Control-Allow-Origin"] = origin.strip()
        if preflight:
            headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            headers["Access-Control-Allow-Headers"] = "Content-Type"
            headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
        return headers
