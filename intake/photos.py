"""Photos of a case (#16): verified by decoding, re-encoded (so a file that is not an image,
or carries a payload behind one, is refused or neutralised), stripped of EXIF after its own
time and GPS position are read into the case's record, thumbnailed, and stored under the
media directory named by the SHA-256 of the re-encoded bytes.

``add_photo`` is the one way in (the API, the desk and the phone page call it); ``open_photo``
the one way out — both scoped to the actor (a photo of a case outside the scope is "not
found") and audited.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageOps, UnidentifiedImageError

from accounts.audit import audit
from intake.schema import ReportError
from onemap.access import can
from onemap.context import Runtime
from store import incidents as db_incidents
from store import photos as db_photos

FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}  # MPO: phone JPEGs with a depth map
MAX_PIXELS = 60_000_000  # a 60-megapixel photo is the largest a phone makes
THUMB = 360
QUALITY = 85
_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769


@dataclass(frozen=True)
class Processed:
    jpeg: bytes
    thumb: bytes
    width: int
    height: int
    taken_at: datetime | None
    lon: float | None
    lat: float | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()


def _refuse(message: str, status: int = 422) -> ReportError:
    return ReportError(message, [("file", message)], status=status, code="bad_photo")


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    out = d + m / 60 + s / 3600
    return -out if str(ref).upper() in ("S", "W") else out


def _exif_facts(img: Image.Image, tz: str) -> tuple[datetime | None, float | None,
                                                     float | None]:
    exif = img.getexif()
    taken = None
    raw = exif.get_ifd(_EXIF_IFD).get(36867) or exif.get(306)  # DateTimeOriginal, DateTime
    if raw:
        try:
            taken = datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S").replace(
                tzinfo=ZoneInfo(tz))
        except ValueError:
            taken = None
    gps = exif.get_ifd(_GPS_IFD)
    lat = _degrees(gps.get(2), gps.get(1)) if gps else None
    lon = _degrees(gps.get(4), gps.get(3)) if gps else None
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    return taken, lon, lat


def process(data: bytes, *, max_bytes: int, tz: str = "Asia/Shanghai") -> Processed:
    """Verify, read EXIF facts, strip, re-encode and thumbnail one uploaded photo."""
    if len(data) > max_bytes:
        raise _refuse(f"照片超过 {max_bytes // (1024 * 1024)} MB / the photo is "
                      f"{len(data) / 1048576:.1f} MB; at most {max_bytes / 1048576:.0f} MB "
                      "are accepted", status=413)
    if not data:
        raise _refuse("文件为空 / the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            probe = Image.open(io.BytesIO(data))
            if probe.format not in FORMATS:
                raise _refuse(f"不支持的图片格式 {probe.format} / {probe.format} is not "
                              "accepted; send JPEG, PNG or WebP")
            probe.verify()  # structure check; the image must be reopened after it
            img = Image.open(io.BytesIO(data))
            img.load()
    except ReportError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _refuse("文件不是可识别的图片 / the file is not an image this server can read "
                      f"({type(exc).__name__})") from None
    taken, lon, lat = _exif_facts(img, tz)
    img = ImageOps.exif_transpose(img)
    rgb = img.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=QUALITY, optimize=True)  # no exif= : nothing carried over
    small = rgb.copy()
    small.thumbnail((THUMB, THUMB))
    thumb = io.BytesIO()
    small.save(thumb, "JPEG", quality=80)
    return Processed(out.getvalue(), thumb.getvalue(), rgb.width, rgb.height, taken, lon, lat)


def _path(rt: Runtime, sha: str, thumb: bool = False) -> Path:
    return rt.settings.media_path / sha[:2] / f"{sha}{'.thumb' if thumb else ''}.jpg"


def _write(path: Path, data: bytes) -> None:
    """Write once, atomically (a reader never sees half a file)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def add_photo(rt: Runtime, incident_id: int, data: bytes) -> dict[str, Any]:
    """Store one photo of a case the actor may act on (or report); returns the photo row
    (``created`` False when the same photo was already there)."""
    settings = rt.settings
    processed = process(data, max_bytes=int(settings.photo_max_mb * 1024 * 1024),
                        tz=settings.timezone)
    with rt.engine.begin() as conn:
        case = db_incidents.lock_incident(conn, incident_id)
        if case is None:
            raise ReportError(f"there is no incident {incident_id}", status=404,
                              code="not_found")
        if not (can(rt.actor, "incident.act", case) or can(rt.actor, "incident.submit", case)):
            audit(rt, "photo.add", object_type="incident", object_id=incident_id,
                  result="denied")
            raise ReportError("your role may not add photos to this case", status=403,
                              code="forbidden")
        _write(_path(rt, processed.sha256), processed.jpeg)
        _write(_path(rt, processed.sha256, thumb=True), processed.thumb)
        row = db_photos.insert_photo(conn, {
            "incident_id": incident_id, "sha256": processed.sha256,
            "width": processed.width, "height": processed.height,
            "bytes": len(processed.jpeg), "taken_at": processed.taken_at,
            "lon": processed.lon, "lat": processed.lat, "uploaded_by": rt.actor.label})
        if row["created"]:
            db_incidents.append_event(conn, incident_id, rt.actor.name, "photo",
                                      case["status"], case["status"], "上传照片 1 张")
            audit(rt, "photo.add", object_type="incident", object_id=incident_id, conn=conn,
                  detail={"sha256": processed.sha256, "bytes": len(processed.jpeg)})
    return row


def open_photo(rt: Runtime, incident_id: int, name: str) -> Path:
    """The file of ``<sha256>.jpg`` or ``<sha256>.thumb.jpg`` of a case in the actor's
    scope; a ReportError 404 for anything else (also a guessed name or another town's)."""
    sha, _, rest = name.partition(".")
    if rest not in ("jpg", "thumb.jpg") or len(sha) != 64 or not all(
            c in "0123456789abcdef" for c in sha):
        raise ReportError(f"no photo {name!r}", status=404, code="not_found")
    with rt.engine.connect() as conn:
        found = db_photos.photo(conn, incident_id, sha)
    path = _path(rt, sha, thumb=rest == "thumb.jpg")
    if found is None or not path.is_file():
        raise ReportError(f"no photo {name!r}", status=404, code="not_found")
    return path


def photo_urls(incident_id: int, rows: list[dict[str, Any]], prefix: str) -> list[dict]:
    """What pages and the API show of a case's photos."""
    return [{"url": f"{prefix}/{incident_id}/photos/{r['sha256']}.jpg",
             "thumb": f"{prefix}/{incident_id}/photos/{r['sha256']}.thumb.jpg",
             "width": r["width"], "height": r["height"], "taken_at": r["taken_at"],
             "lon": r["lon"], "lat": r["lat"]} for r in rows]
