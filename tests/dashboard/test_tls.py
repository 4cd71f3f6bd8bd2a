"""``ONEMAP_TLS_CERT``/``ONEMAP_TLS_KEY``: `onemap serve` speaks HTTPS (gunicorn's TLS),
sends HSTS and marks the session cookie Secure (#15)."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.dashboard.conftest import stop
from tests.helpers import free_port

pytestmark = pytest.mark.db


def _self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_https_with_hsts_and_secure_cookies(tmp_path, wall_engine, wall_db_url) -> None:
    cert, key = _self_signed(tmp_path)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=wall_db_url, ONEMAP_PORT=str(port),
               ONEMAP_WORKERS="1", ONEMAP_ESCALATE_EVERY="0", ONEMAP_TLS_CERT=cert,
               ONEMAP_TLS_KEY=key)
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    context = ssl.create_default_context(cafile=cert)
    context.check_hostname = False
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/login", timeout=2,
                                            context=context) as resp:
                    headers = resp.headers
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"no HTTPS answer:\n{proc.stdout.read() if proc.stdout else ''}")
                time.sleep(0.3)
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        form_cookie = next(c for c in headers.get_all("Set-Cookie")
                           if c.startswith("onemap_form="))
        assert "Secure" in form_cookie and "HttpOnly" in form_cookie
        with pytest.raises(OSError):  # plain HTTP is not served on that port
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=3).read()
    finally:
        stop(proc)
