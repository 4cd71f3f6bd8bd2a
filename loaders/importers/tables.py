"""Reading CSV and XLSX tables as text, whatever their encoding.

Every cell is read as a string (empty cells as ``""``) so that each field is parsed — and its
failures reported per row — by the importer, never silently coerced by the reader.  XLSX is
read through GDAL's XLSX driver (via pyogrio), so no extra dependency is needed.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from loaders.importers.encoding import detect_bytes, normalise_encoding
from loaders.importers.options import LoadError

TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")


def read_table(path: Path, *, encoding: str | None = None, sheet: str | None = None
               ) -> tuple[pd.DataFrame, str]:
    """(all-text DataFrame, how it was read) for a CSV/TSV or XLSX file."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"File not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path, sheet), "xlsx"
    if suffix not in TABLE_SUFFIXES:
        raise LoadError(f"{path.name}: expected a .csv or .xlsx file, got {suffix or 'none'}.")
    data = path.read_bytes()
    enc = normalise_encoding(encoding) if encoding else detect_bytes(data)
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        raise LoadError(f"{path.name} is not valid {enc} (byte {exc.start}); "
                        "try --encoding gb18030 or utf-8.") from None
    sep = "\t" if suffix == ".tsv" or _looks_tab_separated(text) else ","
    skip = _title_lines(text, sep)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            na_filter=False, skipinitialspace=False, skiprows=skip)
    except pd.errors.ParserError as exc:
        raise LoadError(f"{path.name} is not a well-formed CSV: {exc}") from None
    except pd.errors.EmptyDataError:
        raise LoadError(f"{path.name} is empty.") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs["first_row"] = 2 + skip
    return frame, f"csv ({enc})" + (f", {skip} title line(s) skipped" if skip else "")


def _title_lines(text: str, sep: str, look: int = 10) -> int:
    """Lines before the header: exports often start with a title ("12345工单导出 2026年3月")
    that has fewer fields than the header below it."""
    import csv

    lines = text.splitlines()[: look + 1]
    counts = [len(row) for row in csv.reader(lines, delimiter=sep)]
    if len(counts) < 2:
        return 0
    widest = max(counts)
    first = next(i for i, c in enumerate(counts) if c == widest)
    return first if all(c <= 2 for c in counts[:first]) else 0


def promote_header(frame: pd.DataFrame, looks_like_header: Callable[[list[str]], bool],
                   look: int = 10) -> pd.DataFrame:
    """When the header is not on the first row (a title row above it, as in many XLSX
    exports), use the first of the next rows that ``looks_like_header``."""
    if looks_like_header(list(frame.columns)):
        return frame
    for r in range(min(look, len(frame))):
        cells = [str(v).strip() for v in frame.iloc[r].tolist()]
        if looks_like_header(cells):
            out = frame.iloc[r + 1:].reset_index(drop=True)
            out.columns = cells
            out.attrs["first_row"] = frame.attrs.get("first_row", 2) + r + 1
            return out
    return frame


def _looks_tab_separated(text: str) -> bool:
    header = text.split("\n", 1)[0]
    return header.count("\t") > header.count(",")


def _read_xlsx(path: Path, sheet: str | None) -> pd.DataFrame:
    import pyogrio

    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # GDAL's errors name the file and the reason
        raise LoadError(f"{path.name} cannot be read as XLSX: {exc}") from None
    if sheet is not None and sheet not in layers:
        raise LoadError(f"{path.name} has no sheet {sheet!r}; sheets: {', '.join(layers)}.")
    layer = sheet if sheet is not None else layers[0]
    frame = pyogrio.read_dataframe(path, layer=layer, read_geometry=False,
                                   FIELD_TYPES="STRING", HEADERS="FORCE")
    frame = frame.astype(object).where(frame.notna(), "").astype(str)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs["first_row"] = 2
    return frame
