"""Offline HTML: the vendored Leaflet inlined, a folium map that links no CDN, and the check
that a page loads nothing remote."""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path

import folium

from onemap.errors import OneMapError
from onemap.settings import PROJECT_ROOT

LEAFLET_VERSION = "1.9.4"
LEAFLET_DIR = PROJECT_ROOT / "data" / "vendor" / "leaflet"


class ExportError(OneMapError):
    """An export could not be written (browser failed, remote asset left in the page…)."""


def _vendor_file(name: str) -> Path:
    path = LEAFLET_DIR / name
    if not path.is_file():
        raise ExportError(f"The vendored Leaflet file {path} is missing, so offline maps "
                          f"cannot be written. Restore data/vendor/leaflet/ (see its README: "
                          f"leaflet {LEAFLET_VERSION} from the npm registry).")
    return path


@lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """(JavaScript, CSS) of the vendored Leaflet, ready to inline: the source-map comment
    removed (a browser would fetch the map) and the CSS images as data: URIs."""
    js = _vendor_file("leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"//# sourceMappingURL=\S+", "", js)
    if "</script" in js.lower():  # cannot happen with 1.9.4; would end the inline block
        js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    css = _vendor_file("leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        ref = match.group(1).strip("'\"")
        if not ref.startswith("images/"):
            return match.group(0)
        data = base64.b64encode(_vendor_file(ref).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\(([^)]*)\)", inline, css)
    return js, css


class OfflineMap(folium.Map):
    """A folium Map that links no CDN: Leaflet is inlined by :func:`to_html` instead."""

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []


_REMOTE = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)((?:https?:)?//[^"')\s>]+)""",
    re.IGNORECASE)


_SCRIPT_BODY = re.compile(r"(<script\b[^>]*>).*?(</script>)", re.IGNORECASE | re.DOTALL)


def asset_urls(page: str) -> list[str]:
    """Remote URLs the page would load: ``src=``/``href=`` attributes, CSS ``url()`` and
    ``@import``.  Script text is not searched (Leaflet mentions its home page in strings)."""
    tags_only = _SCRIPT_BODY.sub(r"\1\2", page)
    return _REMOTE.findall(tags_only)


