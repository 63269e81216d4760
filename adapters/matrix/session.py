"""Who the bot is on the homeserver: an access token from MATRIX_ACCESS_TOKEN, or a password login done
once, its device and token kept in the store (so a restart reuses the device instead of adding one per
start); and the sync position, kept there too, so messages sent while the bot was down are answered."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig, LoginResponse, WhoamiResponse
from nio.crypto import ENCRYPTION_ENABLED

from adapters.matrix.settings import MatrixSettings
from bot.store.settings import ScopeSettingsStore

log = logging.getLogger(__name__)


class SessionError(Exception):
    """Why the bot cannot sign in, in words an operator can act on (never a secret)."""


class Session:
    """The store's row for this account (in scope_settings, under a key no scope has)."""

    def __init__(self, store: ScopeSettingsStore, user_id: str) -> None:
        self._store = store
        self._key = f"matrix:session:{user_id}"

    async def get(self, name: str) -> str | None:
        return (await self._store.all(self._key)).get(name)

    async def put(self, name: str, value: str) -> None:
        await self._store.set(self._key, name, value)

    async def forget_login(self) -> None:
        await self._store.clear(self._key, "access_token")
        await self._store.clear(self._key, "device_id")


def new_client(matrix: MatrixSettings, keys_dir: Path) -> AsyncClient:
    """`keys_dir`: where nio keeps the device's end-to-end keys and sessions (its own SQLite file)."""
    assert matrix.matrix_homeserver and matrix.matrix_user_id
    # nio's own retries sleep on the wall clock and, for timeouts, never stop: ours do both (see api).
    config = AsyncClientConfig(
        max_limit_exceeded=0,
        max_timeouts=0,
        request_timeout=matrix.matrix_request_timeout_seconds,
        store_sync_tokens=False,
        encryption_enabled=ENCRYPTION_ENABLED,
    )
    homeserver = matrix.matrix_homeserver.rstrip("/")
    return AsyncClient(homeserver, matrix.matrix_user_id, store_path=str(keys_dir), config=config)


async def sign_in(client: AsyncClient, matrix: MatrixSettings, session: Session) -> None:
    """Set the client's token and device: the configured token, else the kept login, else log in now."""
    timeout = matrix.matrix_request_timeout_seconds
    if matrix.matrix_access_token is not None:
        client.access_token = matrix.matrix_access_token.get_secret_value()
        await _check(client, timeout, "MATRIX_ACCESS_TOKEN")
        _open_keys(client)
        return
    token, device = await session.get("access_token"), await session.get("device_id")
    if token and device:
        client.access_token, client.device_id = token, device
        try:
            await _check(client, timeout, "the kept login")
            _open_keys(client)
            return
        except SessionError as exc:  # revoked meanwhile (a logout, an admin): log in again
            log.warning("matrix: %s; logging in again", exc)
            await session.forget_login()
    assert matrix.matrix_password is not None
    password = matrix.matrix_password.get_secret_value()
    response = await asyncio.wait_for(client.login(password, device_name=matrix.matrix_device_name), timeout)
    if not isinstance(response, LoginResponse):
        raise SessionError(f"the homeserver refused MATRIX_PASSWORD for {matrix.matrix_user_id}: {response.message}")
    # nio opened the device's key store on login.
    await session.put("access_token", response.access_token)
    await session.put("device_id", response.device_id)
    log.info("matrix: logged in as %s (device %s), kept for restarts", response.user_id, response.device_id)


async def _check(client: AsyncClient, timeout: float, source: str) -> None:
    """whoami: the token works, and it is MATRIX_USER_ID's."""
    response = await asyncio.wait_for(client.whoami(), timeout)
    if not isinstance(response, WhoamiResponse):
        raise SessionError(f"the homeserver refused {source}: {response.message}")
    if response.user_id != client.user_id:
        raise SessionError(f"{source} belongs to {response.user_id}, not MATRIX_USER_ID {client.user_id}")
    client.device_id = response.device_id or client.device_id


def _open_keys(client: AsyncClient) -> None:
    """The device's end-to-end keys (nio's store, opened on a login; here for a token signed in already)."""
    if client.config.encryption_enabled:
        client.restore_login(client.user_id, client.device_id, client.access_token)
