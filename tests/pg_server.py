"""A throwaway PostgreSQL cluster for the store tests (and bench/quota_race.py): the Debian package's initdb
and pg_ctl, a temp dir, 127.0.0.1 on a free port, trust auth, fsync off. Each test gets a fresh database.
Without PostgreSQL the tests skip, unless CI_REQUIRE_POSTGRES=1 (CI), where that is a failure."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

NOT_INSTALLED = "PostgreSQL not installed: apt-get install postgresql to run the PostgreSQL store tests"
TIMEOUT = 60.0  # seconds for initdb, a start or a stop


class Unavailable(Exception):
    """Why no cluster can be started here, in one sentence."""


def bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = [
        path
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if (path / "initdb").exists() and (path / "pg_ctl").exists()
    ]
    if not found:
        raise Unavailable(NOT_INSTALLED)
    return max(found, key=lambda path: _version(path.parent.name))


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgCluster:
    """One cluster; `start()` then `database()` for each test's URL, `stop()` at the end."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        # initdb refuses to run as root: run the server's tools as the package's postgres user.
        self._as: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise Unavailable("running as root needs runuser to start PostgreSQL as the postgres user")
            self._as = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="atelier-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.host = "127.0.0.1"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False)
        if done.returncode != 0:
            raise Unavailable(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def start(self) -> PgCluster:
        if self._as:
            try:
                shutil.chown(self.root, "postgres", "postgres")
            except (LookupError, OSError) as exc:
                raise Unavailable(f"cannot hand the cluster's folder to the postgres user: {exc}") from None
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = (
            f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
                  "-t", str(int(TIMEOUT)), "start")  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        self._run(str(self.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.root),
                  "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql)  # fmt: skip

    def database(self) -> str:
        """A fresh, empty database: its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=TIMEOUT, check=False)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def unavailable(reason: str) -> None:
    """Skip (a developer's machine without PostgreSQL), or fail where CI requires the PostgreSQL tests."""
    if os.environ.get("CI_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"CI_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    try:
        cluster = PgCluster()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        cluster.start()
    except (Unavailable, subprocess.TimeoutExpired) as exc:
        cluster.stop()
        unavailable(f"PostgreSQL could not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh database on the session's cluster."""
    return pg_cluster.database()
