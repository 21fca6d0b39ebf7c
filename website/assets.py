"""The widget's files and the demo page, read once when the channel starts.

Each file is served from memory with an ETag, so a visitor's browser asks again
cheaply (304) and picks up a new widget within ``max-age`` after an update.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping

STATIC_DIR = Path(__file__).resolve().parent / "static"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}

# The demo page is what a strict site would send: only its own scripts, styles and
# connections. The widget must work under it (the browser tests check for violations).
DEMO_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, content type and ETag."""

    body: bytes
    content_type: str

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


def load_asset(name: str, replacements: Mapping[str, str] = {}) -> Asset:
    """Reads ``website/static/<name>``; ``{{key}}`` placeholders get HTML-escaped values."""
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    for key, value in replacements.items():
        text = text.replace("{{" + key + "}}", html.escape(value))
    return Asset(text.encode("utf-8"), CONTENT_TYPES[Path(name).suffix])


def load_assets(clinic_name: str, clinic_phone: str, clinic_address: str) -> Dict[str, Asset]:
    """Everything the channel serves under ``/webhooks/website/``, by URL name."""
    demo_values = {"clinic_name": clinic_name, "clinic_phone": clinic_phone, "clinic_address": clinic_address}
    return {
        "widget.js": load_asset("widget.js"),
        "widget.css": load_asset("widget.css"),
        "demo": load_asset("demo.html", demo_values),
        "demo.css": load_asset("demo.css"),
    }
