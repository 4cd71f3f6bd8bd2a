"""Installing what the project needs from the system's package manager (Debian/Ubuntu apt).

Only used by set-up commands.  Installation happens when we are root (or have passwordless
sudo) on a machine with apt-get; anywhere else we stop with one message that names the
commands the user can run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from onemap.errors import SetupError

_apt_updated = False


def _sudo_prefix() -> list[str] | None:
    """``[]`` as root, ``["sudo", "-n"]`` with passwordless sudo, ``None`` when we cannot."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        probe = subprocess.run(["sudo", "-n", "true"], capture_output=True)
        if probe.returncode == 0:
            return ["sudo", "-n"]
    return None


def can_apt_install() -> bool:
    return shutil.which("apt-get") is not None and _sudo_prefix() is not None


def dpkg_installed(package: str) -> bool:
    if not shutil.which("dpkg-query"):
        return False
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                         capture_output=True, text=True)
    return out.returncode == 0 and "install ok installed" in out.stdout


def apt_install(packages: list[str], why: str, *, manual_hint: str) -> None:
    """Install Debian packages, or raise :class:`SetupError` explaining how to get them."""
    global _apt_updated
    prefix = _sudo_prefix()
    if shutil.which("apt-get") is None or prefix is None:
        raise SetupError(
            f"{why} is missing and cannot be installed automatically here "
            f"(needs apt-get and root or passwordless sudo).\n{manual_hint}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"[onemap] installing {' '.join(packages)} ({why}) with apt-get …", file=sys.stderr,
          flush=True)
    if not _apt_updated:
        subprocess.run([*prefix, "apt-get", "update", "-qq"], env=env, check=False)
        _apt_updated = True
    result = subprocess.run([*prefix, "apt-get", "install", "-y", "-qq",
                             "--no-install-recommends", *packages], env=env)
    if result.returncode != 0:
        raise SetupError(f"apt-get could not install {' '.join(packages)} ({why}).\n{manual_hint}")


def ensure_browser() -> str:
    """Make sure Debian's Chromium and CJK fonts are present (for page tests); return the path."""
    missing = [p for p in ("chromium", "fonts-noto-cjk") if not dpkg_installed(p)]
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path and not missing:
        return path
    if missing and shutil.which("apt-get"):
        apt_install(missing, "Chromium and CJK fonts for the page tests",
                    manual_hint="Run: sudo apt-get install chromium fonts-noto-cjk")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise SetupError("Chromium is needed for the page tests and was not found. "
                         "Run: sudo apt-get install chromium fonts-noto-cjk")
    return path


def ensure_pdf_tools() -> dict[str, str]:
    """Make sure poppler's ``pdftoppm``, ``pdftotext`` and ``pdfinfo`` are present (the tests
    of the monthly PDF export read the PDF back with them); return their paths by name."""
    tools = ("pdftoppm", "pdftotext", "pdfinfo")
    if not all(shutil.which(t) for t in tools) and shutil.which("apt-get"):
        apt_install(["poppler-utils"], "poppler-utils (pdftoppm, pdftotext) for the PDF tests",
                    manual_hint="Run: sudo apt-get install poppler-utils")
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise SetupError(f"{', '.join(missing)} (from poppler-utils) are needed to check the "
                         "PDF exports and were not found. Run: sudo apt-get install poppler-utils")
    return {t: shutil.which(t) or t for t in tools}


def ensure_nginx() -> str:
    """Make sure Debian's nginx is present (``onemap proxy up`` and its test); return its path.
    ``nginx-light`` is enough: TLS, HTTP/2, gzip, upstreams and request limits."""
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                     else None)
    if not path and shutil.which("apt-get"):
        apt_install(["nginx-light"], "nginx (the reverse proxy in front of the app nodes)",
                    manual_hint="Run: sudo apt-get install nginx-light")
        path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not path or not Path(path).exists():
        raise SetupError("nginx is needed to put the app nodes behind a proxy and was not "
                         "found. Run: sudo apt-get install nginx-light")
    return path
