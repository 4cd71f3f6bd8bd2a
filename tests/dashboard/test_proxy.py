"""Two app nodes behind Debian's nginx (`onemap proxy up`): TLS with HTTP/2, gzip, both nodes
in rotation, client addresses through the proxy, sign-in limits across nodes — and a node
killed mid-load loses no acknowledged report and stores none twice."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import text

from store import api_keys
from tests.helpers import free_port, fresh_demo_database, sibling_database

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture(scope="module")
def proxied(db_url, tmp_path_factory):
    url = sibling_database(db_url, "proxy")
    engine = fresh_demo_database(url, "sample")
    with engine.begin() as conn:
        key = api_keys.create_key(conn, "12345热线", "hotline_12345", "reporter")
        lon, lat = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE valid_to IS NULL ORDER BY level DESC, id LIMIT 1) s")).one()
    var = tmp_path_factory.mktemp("proxyvar")
    base, listen = free_port(), free_port()
    env = dict(os.environ, DATABASE_URL=url, ONEMAP_VAR_DIR=str(var), ONEMAP_PORT=str(base),
               ONEMAP_WORKERS="2", ONEMAP_ESCALATE_EVERY="0")
    started = subprocess.run([sys.executable, "-m", "cli", "proxy", "up", "--nodes", "2",
                              "--listen", str(listen)], env=env, capture_output=True,
                             text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    context = ssl.create_default_context(cafile=str(var / "proxy" / "cert.pem"))
    yield {"engine": engine, "key": key, "where": (float(lon), float(lat)), "var": var,
           "base": f"https://127.0.0.1:{listen}", "listen": listen, "env": env,
           "nodes": [base + 1, base + 2], "ssl": context}
    subprocess.run([sys.executable, "-m", "cli", "stop"], env=env, capture_output=True,
                   timeout=120)
    engine.dispose()


def _get(p, path: str, headers: dict | None = None):
    req = urllib.request.Request(p["base"] + path, headers=headers or {})
    try:
        return urllib.request.urlopen(req, context=p["ssl"], timeout=10)
    except urllib.error.HTTPError as exc:
        return exc


def test_tls_http2_gzip_and_both_nodes_answer(proxied):
    p = proxied
    with socket.create_connection(("127.0.0.1", p["listen"])) as raw:
        ctx = ssl.create_default_context(cafile=str(p["var"] / "proxy" / "cert.pem"))
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.selected_alpn_protocol() == "h2"
    nodes = set()
    for _ in range(8):
        resp = _get(p, "/api/health")
        assert resp.status == 200
        nodes.add(resp.headers["X-OneMap-Node"])
    assert nodes == {f"127.0.0.1:{n}" for n in p["nodes"]}
    big = _get(p, "/api/openapi.json", {"Accept-Encoding": "gzip"})
    assert big.headers["Content-Encoding"] == "gzip"
    login = _get(p, "/login")
    cookie = login.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie  # https seen through the proxy


def test_sign_in_attempts_are_limited_per_address_across_nodes(proxied):
    p = proxied
    codes, upstream = [], []
    for i in range(14):
        data = f"username=nobody{i}&password=wrong".encode()
        req = urllib.request.Request(p["base"] + "/login", data=data, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            codes.append(urllib.request.urlopen(req, context=p["ssl"], timeout=10).status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
            upstream.append(exc.headers.get("X-OneMap-Node"))
    # nginx's shared zone (20/min, burst 5) refuses, itself, before any node sees it
    assert 429 in codes and None in upstream
    assert codes[0] != 429


def _post_report(p, ext: str) -> tuple[int, dict, str]:
    lon, lat = p["where"]
    body = json.dumps({"source": "hotline_12345", "external_id": ext, "category": "dispute",
                       "description": "两节点演练", "location": {"lon": lon, "lat": lat}})
    req = urllib.request.Request(p["base"] + "/api/v1/reports", data=body.encode(),
                                 method="POST", headers={"Content-Type": "application/json",
                                                         "X-API-Key": p["key"]})
    with urllib.request.urlopen(req, context=p["ssl"], timeout=15) as resp:
        return resp.status, json.loads(resp.read()), resp.headers["X-OneMap-Node"]


def test_a_node_killed_mid_load_loses_no_acknowledged_report(proxied):
    p = proxied
    tag = "NODE-" + uuid.uuid4().hex[:6]
    acked: dict[str, int] = {}
    served: list[tuple[float, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    tries: list[str] = []

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            ext = f"{tag}-{n}-{i}"
            i += 1
            with lock:
                tries.append(ext)
            for _attempt in range(20):  # a client resends the same report until answered
                try:
                    status, body, node = _post_report(p, ext)
                except (urllib.error.URLError, http.client.HTTPException, OSError):
                    # refused, reset, or an answer cut off by the kill: send it again
                    time.sleep(0.2)
                    continue
                assert status in (200, 201)
                with lock:
                    acked[ext] = body["id"]
                    served.append((time.monotonic(), node))
                break

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    victim = p["nodes"][0]
    pid = int((p["var"] / "run" / f"dashboard-{victim}.pid").read_text())
    killed_at = time.monotonic()
    os.killpg(pid, signal.SIGKILL)  # the node's gunicorn and its workers, no goodbye
    time.sleep(4.0)
    stop.set()
    for t in threads:
        t.join(timeout=60)

    assert set(acked) == set(tries)  # every report the clients sent was answered
    with p["engine"].connect() as conn:
        stored = dict(conn.execute(text(
            "SELECT external_id, count(*) FROM incident WHERE external_id LIKE :t "
            "GROUP BY external_id"), {"t": tag + "%"}).all())
        ids = dict(conn.execute(text(
            "SELECT external_id, id FROM incident WHERE external_id LIKE :t"),
            {"t": tag + "%"}).all())
    assert set(stored) == set(acked) and set(stored.values()) == {1}  # each stored once
    assert ids == acked  # and the answer named the stored case
    before = {node for at, node in served if at < killed_at}
    after = {node for at, node in served if at > killed_at + 1.0}
    assert len(before) == 2  # both nodes took reports before the kill
    assert after == {f"127.0.0.1:{p['nodes'][1]}"}  # only the survivor after it
    assert len([1 for at, _ in served if at > killed_at]) > 10  # and the load went on
