"""A throwaway Synapse homeserver for the Matrix adapter's tests: the matrix-synapse package (the dev extra),
a temp dir, SQLite, plain HTTP on 127.0.0.1 at a free port, no federation, rate limits relaxed, users made
with the shared-secret admin API. Started once per test session. Without Synapse the tests skip, unless
CI_REQUIRE_SYNAPSE=1 (CI), where that is a failure."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

NOT_INSTALLED = "Synapse not installed: pip install matrix-synapse (in the dev extra) to run the Matrix tests"
START_TIMEOUT = 60.0
SERVER_NAME = "atelier.test"
RELAXED = {"per_second": 1000, "burst_count": 1000}


class Unavailable(Exception):
    """Why no homeserver can be started here, in one sentence."""


@dataclass(frozen=True)
class Account:
    user_id: str
    password: str
    access_token: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(root: Path, port: int, secret: str) -> str:
    import yaml

    config = {
        "server_name": SERVER_NAME,
        "pid_file": str(root / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(root / "homeserver.db")}},
        "media_store_path": str(root / "media"),
        "signing_key_path": str(root / "signing.key"),
        "log_config": str(root / "log.yaml"),
        "registration_shared_secret": secret,
        "enable_registration": False,
        "report_stats": False,
        "macaroon_secret_key": uuid.uuid4().hex,
        "form_secret": uuid.uuid4().hex,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "enable_authenticated_media": True,
        "max_upload_size": "10M",
        "rc_message": RELAXED,
        "rc_registration": RELAXED,
        "rc_login": {"address": RELAXED, "account": RELAXED, "failed_attempts": RELAXED},
        "rc_joins": {"local": RELAXED, "remote": RELAXED},
        "rc_invites": {"per_room": RELAXED, "per_user": RELAXED, "per_issuer": RELAXED},
        "rc_admin_redaction": RELAXED,
        "rc_media_create": RELAXED,
    }
    logging_config = {
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(root / "homeserver.log"), "formatter": "plain"}
        },
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }
    (root / "log.yaml").write_text(yaml.safe_dump(logging_config))
    return yaml.safe_dump(config)


class Synapse:
    """One homeserver; `start()`, then `register()` a user per role in each test, `stop()` at the end."""

    def __init__(self) -> None:
        if importlib.util.find_spec("synapse") is None:
            raise Unavailable(NOT_INSTALLED)
        self.root = Path(tempfile.mkdtemp(prefix="atelier-synapse-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._secret = uuid.uuid4().hex
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Synapse:
        config = self.root / "homeserver.yaml"
        config.write_text(_config(self.root, self.port, self._secret))
        command = [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config)]
        keys = subprocess.run([*command, "--generate-keys"], capture_output=True, text=True, timeout=START_TIMEOUT)
        if keys.returncode != 0:
            raise Unavailable(f"Synapse could not make its keys: {(keys.stderr or keys.stdout).strip()[-500:]}")
        output = (self.root / "stdout.log").open("wb")
        self._process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise Unavailable(f"Synapse exited at start: {(self.root / 'stdout.log').read_text()[-800:]}")
            try:
                if httpx.get(f"{self.url}/_matrix/client/versions", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise Unavailable(f"Synapse did not answer within {START_TIMEOUT:.0f} s")

    def register(self, name: str, *, admin: bool = False) -> Account:
        """A new user through the shared-secret admin API (`/_synapse/admin/v1/register`, HMAC-SHA1)."""
        localpart = f"{name}-{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = httpx.get(endpoint, timeout=10).json()["nonce"]
        role = b"admin" if admin else b"notadmin"
        message = b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), role])
        mac = hmac.new(self._secret.encode(), message, hashlib.sha1).hexdigest()
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac}
        answer = httpx.post(endpoint, json=body, timeout=10)
        answer.raise_for_status()
        data = answer.json()
        return Account(data["user_id"], password, data["access_token"])

    def log_text(self) -> str:
        path = self.root / "homeserver.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def unavailable(reason: str) -> None:
    """Skip (a developer's machine without Synapse), or fail where CI requires the Matrix tests."""
    if os.environ.get("CI_REQUIRE_SYNAPSE") == "1":
        pytest.fail(f"CI_REQUIRE_SYNAPSE=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def synapse() -> Iterator[Synapse]:
    try:
        server = Synapse()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        server.start()
    except (Unavailable, subprocess.TimeoutExpired, OSError) as exc:
        server.stop()
        unavailable(f"Synapse could not start: {exc}")
    yield server
    server.stop()
