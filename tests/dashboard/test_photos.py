"""Case photos (#16): verified, EXIF stripped after its GPS and time are kept, thumbnailed,
refused with a clear message when not an image or too large, and scoped like the case."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from PIL import Image
from sqlalchemy import text

from accounts import service
from accounts.bootstrap import SETUP
from dashboard.app import create_app
from tests.helpers import client_as, make_user

pytestmark = pytest.mark.db


def _jpeg_with_gps(lon: float = 97.123456, lat: float = 40.271234) -> bytes:
    def dms(value: float) -> tuple:
        d = int(value)
        m = int((value - d) * 60)
        s = round(((value - d) * 60 - m) * 60, 4)
        return (d, m, s)
    img = Image.new("RGB", (800, 600), (30, 120, 200))
    exif = Image.Exif()
    exif[0x0110] = "OneMapPhone X"  # model: device data that must go
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: dms(lat), 3: "E", 4: dms(lon)})
    exif.get_ifd(0x8769)[36867] = "2026:11:30 09:15:00"
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture(scope="module")
def app(settings, wall_engine, wall_db_url, tmp_path_factory):
    media = tmp_path_factory.mktemp("media")
    return create_app(settings.with_(database_url=wall_db_url, escalate_every_s=0,
                                     media_dir=str(media)))


@pytest.fixture(scope="module")
def case(wall_engine) -> dict:
    with wall_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT i.id, t.code AS town_code, i.town_id FROM incident i
            JOIN unit t ON t.id = i.town_id ORDER BY i.id LIMIT 1""")).one()
        other = conn.scalar(text("SELECT code FROM unit WHERE level = 1 AND id <> :t "
                                 "AND valid_to IS NULL LIMIT 1"), {"t": row.town_id})
    return {"id": row.id, "town": row.town_code, "other_town": other}


def test_a_photo_is_stored_without_exif_and_keeps_its_gps_and_time(app, case,
                                                                   wall_engine) -> None:
    rt = app.server.extensions["onemap"]
    user = make_user(rt, "commander", case["town"])
    token = service.issue_token(rt.acting_as(SETUP), user["username"], 1)
    client = app.server.test_client()
    sent = client.post(f"/api/v1/incidents/{case['id']}/photos",
                       headers={"X-API-Key": token},
                       data={"file": (io.BytesIO(_jpeg_with_gps()), "现场.jpg")})
    assert sent.status_code == 201, sent.json
    back = client.get(sent.json["url"], headers={"X-API-Key": token})
    assert back.status_code == 200 and back.mimetype == "image/jpeg"
    img = Image.open(io.BytesIO(back.data))
    assert img.size == (800, 600) and len(img.getexif()) == 0  # no EXIF at all
    assert b"OneMapPhone" not in back.data
    thumb = Image.open(io.BytesIO(client.get(sent.json["thumb"],
                                             headers={"X-API-Key": token}).data))
    assert max(thumb.size) <= 360
    with wall_engine.connect() as conn:
        row = conn.execute(text("SELECT lon, lat, taken_at, uploaded_by FROM incident_photo "
                                "WHERE incident_id = :i"), {"i": case["id"]}).one()
        events = [r[0] for r in conn.execute(text(
            "SELECT action FROM incident_event WHERE incident_id = :i"), {"i": case["id"]})]
    assert row.lon == pytest.approx(97.123456, abs=1e-5)
    assert row.lat == pytest.approx(40.271234, abs=1e-5)
    assert row.taken_at.astimezone().replace(tzinfo=None) == datetime(2026, 11, 30, 9, 15) \
        or row.taken_at.isoformat().startswith("2026-11-30T01:15")
    assert row.uploaded_by == f"user:{user['username']}" and "photo" in events
    # The same photo again: stored once.
    again = client.post(f"/api/v1/incidents/{case['id']}/photos",
                        headers={"X-API-Key": token},
                        data={"file": (io.BytesIO(_jpeg_with_gps()), "again.jpg")})
    assert again.status_code == 200
    # Signed-in users of the town see it; another town's user gets 404.
    name = sent.json["url"].rsplit("/", 1)[1]
    inside = client_as(app, "commander", case["town"])
    assert inside.get(f"/media/{case['id']}/photos/{name}").status_code == 200
    outside = client_as(app, "commander", case["other_town"])
    assert outside.get(f"/media/{case['id']}/photos/{name}").status_code == 404
    assert inside.get(f"/media/{case['id']}/photos/{'f' * 64}.jpg").status_code == 404
    sneaky = inside.get(f"/media/{case['id']}/photos/..%2F..%2Fkeys%2Fdata.key")
    assert sneaky.mimetype != "image/jpeg" and b"\x00" not in sneaky.data[:64]


def test_not_an_image_and_too_large_are_refused_clearly(app, case) -> None:
    client = client_as(app, "commander", case["town"])
    php = b"<?php system($_GET['c']); ?>\n" + b"\xff\xd8\xff" * 10
    refused = client.post(f"/media/{case['id']}/photos",
                          data={"file": (io.BytesIO(php), "shell.jpg")})
    assert refused.status_code == 422
    assert "不是可识别的图片" in refused.json["error"]["message"]
    big = Image.effect_noise((2600, 2600), 100).convert("RGB")
    raw = io.BytesIO()
    big.save(raw, "PNG")
    data = raw.getvalue()
    while len(data) < 12 * 1024 * 1024:
        data += data[: 12 * 1024 * 1024 - len(data) + 1]
    too_big = client.post(f"/media/{case['id']}/photos",
                          data={"file": (io.BytesIO(data), "huge.png")})
    assert too_big.status_code == 413
    assert "10 MB" in too_big.get_data(as_text=True)
