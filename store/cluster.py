"""The project's own PostgreSQL cluster under ``var/pg`` (the embedded default).

Why its own cluster: a newcomer gets a working PostGIS with no server administration, on a port
(54329) that does not clash with a system PostgreSQL, listening on 127.0.0.1 only, with a
random superuser password kept in ``var/db-password``.  PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` user and owns ``var/pg``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from onemap.errors import SetupError
from onemap.settings import Settings
from store.postgres_bin import PgBinaries

SUPERUSER = "onemap"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def archive_command(archive: Path) -> str:
    """The primary's ``archive_command``: copy a finished WAL segment into ``archive`` when that
    directory exists (``onemap db backup`` creates it), else let it go.  A segment already there
    with the same bytes counts as archived (a retry after a crash); a different one is an error.
    """
    d = str(archive).replace("'", "")
    return (f"[ ! -d {d} ] || cmp -s %p {d}/%f || "
            f"{{ [ ! -f {d}/%f ] && cp %p {d}/%f.part && mv {d}/%f.part {d}/%f; }}")


def embedded_url(settings: Settings, dbname: str, *, port: int | None = None) -> str:
    """URL of ``dbname`` in the embedded cluster (port from settings, password from var/)."""
    password_file = settings.var_path / "db-password"
    try:
        password = password_file.read_text().strip()
    except OSError as exc:
        raise SetupError(f"The embedded cluster's password file {password_file} is missing; "
                         "run `onemap db up` (or `make run`) first.") from exc
    return (f"postgresql+psycopg://{SUPERUSER}:{quote(password, safe='')}"
            f"@127.0.0.1:{port or settings.pg_port}/{dbname}")


def _process_cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return None


@dataclass
class ClusterStatus:
    initialised: bool
    running: bool
    pid: int | None
    port: int
    datadir: Path

    def describe(self) -> str:
        if not self.initialised:
            return f"not initialised ({self.datadir} is empty)"
        if self.running:
            return f"running (pid {self.pid}) on 127.0.0.1:{self.port}, data in {self.datadir}"
        return f"stopped, data in {self.datadir}"


class Cluster:
    """Start, stop and describe the embedded cluster; every call is safe to repeat."""

    def __init__(self, settings: Settings, bins: PgBinaries, *, root: Path | None = None,
                 port: int | None = None, archive_to: Path | None = None) -> None:
        """The primary under ``var/pg`` by default; ``root`` and ``port`` name another cluster
        of the same binaries (a standby, a restored copy).  ``archive_to``: the WAL archive
        directory; archiving is on whenever that directory exists (see :mod:`store.backup`)."""
        self.settings = settings
        self.bins = bins
        self.root = root if root is not None else settings.var_path / "pg"
        self.datadir = self.root / "data"
        self.sockdir = self.root / "sock"
        self.logfile = self.root / "server.log"
        self.password_file = settings.var_path / "db-password"
        self.port = port if port is not None else settings.pg_port
        self.archive_to = archive_to
        self._user = self._server_user()

    # --- who runs the server -------------------------------------------------------------
    @staticmethod
    def _server_user() -> pwd.struct_passwd | None:
        """The unprivileged account that runs the server when we are root, else None."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "onemap"):
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "onemap"], check=True)
        return pwd.getpwnam("onemap")

    def _run(self, args: list[str], *, check: bool = True, timeout: float = 120,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        kwargs: dict = {}
        if self._user is not None:
            kwargs = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        env = dict(os.environ, **(env or {}),
                   LC_ALL="C.UTF-8" if Path("/usr/lib/locale/C.utf8").exists() else "C")
        result = subprocess.run(args, capture_output=True, text=True, env=env, cwd="/",
                                timeout=timeout, **kwargs)
        if check and result.returncode != 0:
            said = result.stderr.strip() or result.stdout.strip()
            raise SetupError(f"{Path(args[0]).name} failed: {said}\nServer log: {self.logfile}")
        return result

    def _prepare_dirs(self) -> None:
        self.settings.var_path.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        if self._user is None:
            return
        uid, gid = self._user.pw_uid, self._user.pw_gid
        for path in (self.root, self.sockdir):
            os.chown(path, uid, gid)
        os.chmod(self.root, 0o700)
        if self.datadir.exists():
            os.chown(self.datadir, uid, gid)
        self._grant_traverse(self.root.parent)

    def _grant_traverse(self, path: Path) -> None:
        """Let the server user reach var/pg: add search (x) permission where it lacks it."""
        for ancestor in [path, *path.parents]:
            check = subprocess.run(["test", "-x", str(ancestor)], user=self._user.pw_uid,
                                   group=self._user.pw_gid, extra_groups=[])
            if check.returncode == 0:
                continue
            mode = ancestor.stat().st_mode
            os.chmod(ancestor, mode | stat.S_IXOTH)
            print(f"[onemap] gave others search permission (o+x) on {ancestor} so the "
                  f"'{self._user.pw_name}' account can reach the database files", file=sys.stderr)

    # --- state ---------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def _pidfile_pid(self) -> int | None:
        try:
            first = (self.datadir / "postmaster.pid").read_text().splitlines()[0]
            return int(first.strip())
        except (OSError, IndexError, ValueError):
            return None

    def _live_pid(self) -> int | None:
        """PID of a postgres serving *our* data directory, or None."""
        pid = self._pidfile_pid()
        if pid is None:
            return None
        cmdline = _process_cmdline(pid)
        if cmdline is None or str(self.datadir) not in cmdline:
            return None  # dead, or the PID now belongs to another process
        return pid

    def status(self) -> ClusterStatus:
        pid = self._live_pid() if self.initialised else None
        return ClusterStatus(self.initialised, pid is not None, pid, self.port, self.datadir)

    def url(self, dbname: str) -> str:
        return embedded_url(self.settings, dbname, port=self.port)

    def give_to_server(self, path: Path) -> None:
        """Make ``path`` (a directory tree) belong to the account that runs the server."""
        if self._user is None:
            return
        uid, gid = self._user.pw_uid, self._user.pw_gid
        os.chown(path, uid, gid)
        for base, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(base, name), uid, gid, follow_symlinks=False)
        self._grant_traverse(path.parent)

    def run_tool(self, name: str, *args: str, timeout: float = 3600
                 ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL client tool (pg_basebackup, …) as the server's account, connected
        to this cluster as the superuser."""
        password = self.password_file.read_text().strip()
        return self._run([self.bins.tool(name), "-h", "127.0.0.1", "-p", str(self.port),
                          "-U", SUPERUSER, "--no-password", *args], timeout=timeout,
                         env={"PGPASSWORD": password})

    # --- actions -------------------------------------------------------------------------
    def init(self) -> bool:
        """initdb on first use; returns True when a new cluster was created."""
        self._prepare_dirs()
        if self.initialised:
            return False
        if self.datadir.exists() and any(self.datadir.iterdir()):
            raise SetupError(f"{self.datadir} is not empty but holds no cluster; move it away "
                             "or delete it, then run again.")
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n")
        os.chmod(self.password_file, 0o600)
        pwfile = self.root / ".initdb-pw"
        pwfile.write_text(password + "\n")
        if self._user is not None:
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        os.chmod(pwfile, 0o600)
        print(f"[onemap] creating the PostgreSQL {self.bins.major} cluster in {self.datadir} …",
              file=sys.stderr, flush=True)
        try:
            self._run([self.bins.tool("initdb"), "-D", str(self.datadir), "-U", SUPERUSER,
                       f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                       "--no-locale", "--no-instructions"])
        finally:
            pwfile.unlink(missing_ok=True)
        return True

    def _clear_stale_lock(self) -> None:
        """Remove a postmaster.pid left by a crash (its PID dead or reused by another process)."""
        pidfile = self.datadir / "postmaster.pid"
        if pidfile.exists() and self._live_pid() is None:
            print(f"[onemap] removing stale {pidfile} (left by a crash)", file=sys.stderr)
            pidfile.unlink()
        lock = self.sockdir / f".s.PGSQL.{self.port}.lock"
        if lock.exists():
            try:
                pid = int(lock.read_text().splitlines()[0])
            except (OSError, IndexError, ValueError):
                pid = None
            cmd = _process_cmdline(pid) if pid else None
            if not cmd or "postgres" not in cmd:
                lock.unlink(missing_ok=True)
                (self.sockdir / f".s.PGSQL.{self.port}").unlink(missing_ok=True)

    def start(self) -> None:
        """Start the server if it is not running (initialising it first when needed)."""
        self.init()
        if self.status().running:
            return
        self._clear_stale_lock()
        if port_in_use(self.port):
            raise SetupError(
                f"Port {self.port} on 127.0.0.1 is already in use by another program, so the "
                f"embedded PostgreSQL cannot start. Stop that program, or choose another port: "
                f"ONEMAP_PG_PORT={self.port + 1} make run")
        options = (f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=100 -c shared_buffers=256MB -c work_mem=16MB")
        if self.archive_to is not None:
            command = archive_command(self.archive_to)
            options += f" -c archive_mode=on -c archive_command='{command}'"
        result = self._run([self.bins.tool("pg_ctl"), "-D", str(self.datadir), "-l",
                            str(self.logfile), "-o", options, "-w", "-t", "60", "start"],
                           check=False)
        if result.returncode != 0:
            tail = ""
            if self.logfile.exists():
                tail = "\n".join(self.logfile.read_text(errors="replace").splitlines()[-15:])
            raise SetupError(f"PostgreSQL did not start (pg_ctl said: "
                             f"{result.stderr.strip() or result.stdout.strip()}).\n"
                             f"Last lines of {self.logfile}:\n{tail}")

    def stop(self) -> bool:
        """Stop the server; returns False when it was not running."""
        if not self.status().running:
            return False
        self._run([self.bins.tool("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w",
                   "-t", "60", "stop"])
        return True

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_in_use(self.port):
                return
            time.sleep(0.2)
        raise SetupError(f"PostgreSQL did not accept connections on port {self.port} within "
                         f"{timeout:.0f} s; see {self.logfile}")
