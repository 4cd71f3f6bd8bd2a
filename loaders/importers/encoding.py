"""Guessing the text encoding of files from Chinese systems.

Government exports are very often GBK/GB18030 without saying so (CSV without BOM, shapefiles
without ``.cpg``).  UTF-8 is strict enough that text which decodes as UTF-8 almost surely is;
otherwise GB18030 (a superset of GBK and GB2312) decodes every byte sequence those produce.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from onemap.errors import OneMapError

# DBF "language driver id" byte (offset 29) values that mean code page 936 (GBK).
_DBF_CHINESE_LDID = {0x4D, 0x7A}


class EncodingError(OneMapError):
    """The file's text is neither valid in the given encoding nor in any we can guess."""


def normalise_encoding(name: str) -> str:
    """Canonical codec name; GBK and GB2312 are read as GB18030 (their superset)."""
    try:
        canon = codecs.lookup(name).name
    except LookupError:
        raise EncodingError(f"Unknown encoding {name!r}; use e.g. utf-8, gbk or gb18030.") from None
    return "gb18030" if canon in ("gbk", "gb2312", "gb18030") else canon


def detect_bytes(data: bytes) -> str:
    """``utf-8-sig`` (BOM), ``utf-16`` (BOM), ``utf-8``, or ``gb18030``."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of a sample is still UTF-8
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"The text is neither UTF-8 nor GBK/GB18030 (bad byte at offset {exc.start}); "
            "give the encoding with --encoding.") from None


def detect_file(path: Path) -> str:
    """The encoding of a whole text file (read fully: a GBK character may come late)."""
    return detect_bytes(Path(path).read_bytes())


def dbf_encoding(shp: Path) -> str | None:
    """The encoding of a shapefile's attributes when it has no ``.cpg``; None when it has one
    (GDAL then reads it correctly) or has no ``.dbf``."""
    shp = Path(shp)
    for ext in (".cpg", ".CPG"):
        if shp.with_suffix(ext).exists():
            return None
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.exists()),
               None)
    if dbf is None:
        return None
    data = dbf.read_bytes()
    if len(data) < 32:
        return None
    header_len = int.from_bytes(data[8:10], "little")
    body = data[header_len:]
    if all(b < 0x80 for b in body):
        return "utf-8"  # plain ASCII: any encoding reads it the same
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        body.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        # not Chinese after all: trust the language driver byte if it says GBK, else GDAL
        return "gb18030" if data[29] in _DBF_CHINESE_LDID else None
