"""`onemap proxy up|down|status|config [--nodes 2] [--listen 8443]`: app nodes behind nginx.

``up`` starts ``--nodes`` ``onemap serve`` processes on the ports after ``ONEMAP_PORT`` (each
its own gunicorn with ``ONEMAP_WORKERS`` workers, trusting one proxy hop) and Debian's nginx in
front of them on ``--listen``, with TLS (``ONEMAP_TLS_CERT``/``KEY``, else a self-signed
certificate made once under ``var/proxy``), HTTP/2, gzip, and a per-address limit on sign-ins
that holds across the nodes (each node's own limiter only sees its share).  A node that stops
answering is taken out of the rotation; a request nginx could not hand to it goes to the other.
``config`` prints the nginx configuration (the same text ``up`` writes), for a deployment's own
nginx.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cli.common import say
from onemap.errors import SetupError
from onemap.settings import Settings

GZIP_TYPES = ("application/json application/geo+json application/javascript text/css "
              "text/plain image/svg+xml application/manifest+json")


def nginx_conf(*, prefix: Path, listen: int, nodes: list[int], cert: str, key: str,
               login_rate: str = "20r/m", user: str | None = None) -> str:
    """The nginx configuration for ``nodes`` (ports on 127.0.0.1) behind ``listen``."""
    upstream = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;"
                         for p in nodes)
    temp = "\n".join(f"    {kind}_temp_path {prefix}/tmp/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    proxied = """            proxy_pass http://onemap;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_read_timeout 120s;
            add_header X-OneMap-Node $upstream_addr always;"""
    return f"""# OneMap behind nginx, written by `onemap proxy up` (`onemap proxy config` prints it)
{f'user {user};' if user else ''}
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 2048; }}

http {{
    access_log off;
{temp}
    server_tokens off;
    client_max_body_size 64m;
    gzip on;
    gzip_proxied any;
    gzip_min_length 1024;
    gzip_comp_level 5;
    gzip_vary on;
    gzip_types {GZIP_TYPES};
    # Sign-in attempts per client address, over all nodes (each node's limiter sees a share).
    limit_req_zone $binary_remote_addr zone=onemap_login:10m rate={login_rate};
    limit_req_status 429;

    upstream onemap {{
{upstream}
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{listen} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:onemap_tls:10m;

        location = /login {{
            limit_req zone=onemap_login burst=5 nodelay;
{proxied}
        }}
        location / {{
{proxied}
        }}
    }}
}}
"""


def _self_signed(cert: Path, key: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onemap.local")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    alt = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    made = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(pkey.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365)).add_extension(alt, critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(pkey, hashes.SHA256()))
    key.write_bytes(pkey.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(key, 0o600)
    cert.write_bytes(made.public_bytes(serialization.Encoding.PEM))


def _paths(settings: Settings) -> tuple[Path, Path, Path]:
    prefix = settings.var_path / "proxy"
    if settings.tls_cert and settings.tls_key:
        return prefix, Path(settings.tls_cert), Path(settings.tls_key)
    return prefix, prefix / "cert.pem", prefix / "key.pem"


def _wait_port(port: int, proc: subprocess.Popen | None, log: Path, timeout: float = 600) -> None:
    """Until something listens on ``port`` (a node listens once its master has warmed the
    caches: minutes for a province whose boundaries were never kept), or ``proc`` dies."""
    from store.cluster import port_in_use

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_in_use(port):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.3)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
    raise SetupError(f"nothing answers on port {port}; last lines of {log}:\n{tail}")


def node_ports(settings: Settings, nodes: int) -> list[int]:
    return [settings.port + 1 + i for i in range(nodes)]


def _nginx_pid(prefix: Path) -> int | None:
    try:
        pid = int((prefix / "nginx.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def up(settings: Settings, nodes: int, listen: int) -> list[int]:
    """Start the nodes and nginx; returns the nodes' ports."""
    from onemap.system import ensure_nginx

    nginx = ensure_nginx()
    prefix, cert, key = _paths(settings)
    for sub in ("tmp", "logs"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    if not cert.exists():
        _self_signed(cert, key)
        say(f"made a self-signed certificate {cert} (set ONEMAP_TLS_CERT/ONEMAP_TLS_KEY to "
            "use your own)")
    ports = node_ports(settings, nodes)
    for port in ports:
        log = settings.var_path / "run" / f"node-{port}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, ONEMAP_PORT=str(port), ONEMAP_HOST="127.0.0.1",
                   ONEMAP_PROXY_HOPS="1", ONEMAP_TLS_CERT="", ONEMAP_TLS_KEY="")
        from cli.serve import _pidfile, _running_pid

        if _running_pid(_pidfile(settings.with_(port=port))):
            continue
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "cli", "serve"], env=env,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        _wait_port(port, proc, log)
        say(f"node on 127.0.0.1:{port} (log {log})")
    user = "www-data" if os.geteuid() == 0 else None
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix=prefix, listen=listen, nodes=ports, cert=str(cert),
                               key=str(key), user=user))
    if user:
        import shutil

        for sub in prefix.joinpath("tmp").iterdir():
            shutil.chown(sub, user)
        shutil.chown(prefix / "tmp", user)
    test = subprocess.run([nginx, "-t", "-q", "-p", str(prefix), "-c", str(conf)],
                          capture_output=True, text=True)
    if test.returncode != 0:
        raise SetupError(f"nginx refused the configuration {conf}: {test.stderr.strip()}")
    if _nginx_pid(prefix):
        subprocess.run([nginx, "-p", str(prefix), "-c", str(conf), "-s", "reload"], check=True)
    else:
        subprocess.run([nginx, "-p", str(prefix), "-c", str(conf)], check=True)
    _wait_port(listen, None, prefix / "error.log", timeout=15)
    return ports


def down(settings: Settings) -> bool:
    """Stop nginx (the nodes stop with `onemap stop`, or here)."""
    prefix = settings.var_path / "proxy"
    pid = _nginx_pid(prefix)
    if pid is None:
        return False
    os.kill(pid, signal.SIGQUIT)
    for _ in range(100):
        if _nginx_pid(prefix) is None:
            break
        time.sleep(0.1)
    return True


def cmd_proxy(settings: Settings, args: argparse.Namespace) -> int:
    prefix, cert, key = _paths(settings)
    if args.action == "config":
        print(nginx_conf(prefix=prefix, listen=args.listen,
                         nodes=node_ports(settings, args.nodes), cert=str(cert), key=str(key)))
        return 0
    if args.action == "up":
        ports = up(settings, args.nodes, args.listen)
        say(f"https://127.0.0.1:{args.listen}/ → nginx → {len(ports)} nodes "
            f"({', '.join(map(str, ports))}); `onemap stop` stops them all")
        return 0
    if args.action == "down":
        from cli.serve import cmd_stop_dashboards

        say("nginx stopped" if down(settings) else "nginx was not running")
        cmd_stop_dashboards(settings)
        return 0
    pid = _nginx_pid(prefix)
    print(f"nginx {'running (pid ' + str(pid) + ')' if pid else 'not running'}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("proxy", help="app nodes behind nginx (TLS, gzip): up, down, status, "
                                     "config")
    p.add_argument("action", choices=["up", "down", "status", "config"])
    p.add_argument("--nodes", type=int, default=2, help="how many `onemap serve` nodes")
    p.add_argument("--listen", type=int, default=8443, help="nginx's HTTPS port")
    p.set_defaults(func=cmd_proxy)
