"""The Matrix adapter's lifecycle: take the account's sync lease (a second process on the same database
stands by and takes over when the first stops: two would answer everything twice), sign in, sync (from
the position kept in the store, so what was said while the bot was down is answered; a first start skips
the backlog), join rooms it is invited to, hand each event to the handlers, and stop cleanly, letting
running work finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import aiohttp
from nio import JoinResponse, ProfileGetDisplayNameResponse, SyncError, SyncResponse

from adapters.held_lease import RENEW_SECONDS, HeldLease, renewing
from adapters.matrix.api import LIMIT_EXCEEDED, MatrixApi, MatrixError
from adapters.matrix.handlers import Handlers
from adapters.matrix.outbox import Outbox
from adapters.matrix.recovery import keep_telling
from adapters.matrix.session import Session, SessionError, new_client, sign_in
from adapters.matrix.settings import MatrixSettings
from bot.clock import MONOTONIC, Clock
from bot.config import Settings
from bot.core import Atelier
from bot.lease import WALL
from bot.redaction import RedactingFilter, redact, secrets_of
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)  # between failed syncs: the homeserver may be restarting
LOGGERS = ("nio", "aiohttp", "adapters.matrix")


def one_syncer(who: str) -> str:
    return f"Another Atelier process syncs this Matrix account ({who}); run it in one process, the others stand by"


class MatrixAdapter:
    name = "matrix"

    def __init__(
        self,
        core: Atelier,
        settings: Settings,
        matrix: MatrixSettings,
        clock: Clock = MONOTONIC,
        standby_seconds: float = RENEW_SECONDS,  # how often a standing-by process asks for the lease
    ) -> None:
        if not matrix.configured:
            raise ValueError("MATRIX_HOMESERVER, MATRIX_USER_ID and MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD are not set")
        self._core = core
        self._matrix = matrix
        self._secrets = [*secrets_of(settings), *matrix.secrets()]
        guard_logs(self._secrets)
        assert matrix.matrix_user_id is not None
        self._keys_dir = settings.files_dir / "matrix" / re.sub(r"[^A-Za-z0-9._-]", "_", matrix.matrix_user_id)
        self.client = new_client(matrix, self._keys_dir)
        timeout, wait = matrix.matrix_request_timeout_seconds, matrix.matrix_rate_limit_max_wait_seconds
        self.api = MatrixApi(self.client, timeout=timeout, max_wait=wait, clock=clock)
        self.outbox = Outbox(self.api, core.store.conversations, matrix, on_status=core.note_status)
        self.handlers = Handlers(core, self.outbox, self._secrets)
        self._session = Session(core.store.settings, matrix.matrix_user_id)
        store = core.store
        self._lease = HeldLease(
            store.leases, f"matrix-sync:{matrix.matrix_user_id}", store.instance_id, WALL, one_syncer
        )
        self._standby_seconds = standby_seconds
        self._standby: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._since: str | None = None
        # The first sync of a process asks for the rooms' full state (members, power levels): the client
        # keeps them in memory only, and the kept position alone would give just what changed since.
        self._has_state = False
        self._sync: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._stopping = False
        self.failure: asyncio.Future[str] | None = None

    async def start(self) -> None:
        """Returns once events are being received, or once this process stands by for the one that syncs
        the account; raises with a message an operator can act on."""
        self.failure = asyncio.get_running_loop().create_future()
        if not await self._lease.try_acquire():
            log.warning("matrix: %s; standing by to take over", await self._lease.held_elsewhere())
            self._standby = asyncio.create_task(self._stand_by())
            return
        try:
            await self._begin()
        except BaseException:
            await self._lease.release()
            raise

    async def _stand_by(self) -> None:
        while not self._stopping:
            await self.api.clock.sleep(self._standby_seconds)
            try:
                if not await self._lease.try_acquire():
                    continue
            except Exception as exc:  # a busy database: asked again next time
                log.warning("matrix: could not ask for the sync lease: %r", exc)
                continue
            log.info("matrix: the process that synced this account stopped; taking over")
            try:
                await self._begin()
            except Exception as exc:  # e.g. the password changed meanwhile: one clear line, status 1
                await self._lease.release()
                if self.failure is not None and not self.failure.done():
                    self.failure.set_result(redact(str(exc), self._secrets) or type(exc).__name__)
            return

    async def _begin(self) -> None:
        """Sign in and start syncing, holding the lease."""
        await asyncio.to_thread(self._keys_dir.mkdir, parents=True, exist_ok=True)
        try:
            await sign_in(self.client, self._matrix, self._session)
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self.client.close()
            raise RuntimeError(f"cannot reach MATRIX_HOMESERVER {self._matrix.matrix_homeserver}: {exc}") from None
        except SessionError as exc:
            await self.client.close()
            raise RuntimeError(str(exc)) from None
        self._secrets.append(self.client.access_token)  # a token from a password login is a secret too
        guard_logs(self._secrets)
        await self._read_display_name()
        await self._crypto_upkeep()
        self._since = await self._session.get("next_batch")
        if self._since is None:  # a first start: what was said before the bot existed is not for it
            await self._sync_once(timeout_ms=0, skip_timeline=True)
        self._sync = asyncio.create_task(self._sync_forever())
        assert self.failure is not None
        self._heartbeat = asyncio.create_task(renewing(self._lease, self.failure))
        log.info("matrix: syncing as %s (device %s)", self.client.user_id, self.client.device_id)

    async def _read_display_name(self) -> None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            timeout = self._matrix.matrix_request_timeout_seconds
            response = await asyncio.wait_for(self.client.get_displayname(), timeout)
            if isinstance(response, ProfileGetDisplayNameResponse) and response.displayname:
                self.handlers.display_name = response.displayname

    async def _sync_forever(self) -> None:
        failures = 0
        timeout_ms = int(self._matrix.matrix_sync_timeout_seconds * 1000)
        while not self._stopping:
            try:
                await self._sync_once(timeout_ms=timeout_ms)
                failures = 0
            except _FatalSync as exc:
                if self.failure is not None and not self.failure.done():
                    self.failure.set_result(str(exc))
                return
            except Exception as exc:  # the homeserver restarting, the database busy: never a deaf bot
                wait = exc.wait if isinstance(exc, _RetrySync) else RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("matrix: sync failed (%s); trying again in %.0f s", redact(repr(exc), self._secrets), wait)
                await self.api.clock.sleep(wait)

    async def _sync_once(self, *, timeout_ms: int, skip_timeline: bool = False) -> None:
        limit = timeout_ms / 1000 + self._matrix.matrix_request_timeout_seconds
        response = await asyncio.wait_for(
            self.client.sync(timeout=timeout_ms, since=self._since, full_state=not self._has_state), limit
        )
        if isinstance(response, SyncError):
            code = str(response.status_code or "")
            if code in ("M_UNKNOWN_TOKEN", "M_FORBIDDEN"):
                raise _FatalSync(f"Matrix: the homeserver no longer accepts the bot's token ({code})")
            wait = (response.retry_after_ms or 0) / 1000 if code == LIMIT_EXCEEDED else 0
            raise _RetrySync(f"{code} {response.message}", wait or RETRY_SECONDS[0])
        assert isinstance(response, SyncResponse)
        await self._crypto_upkeep()
        for room_id in response.rooms.invite:
            self.outbox.background.spawn(self._join(room_id), "joining a room")
        for room_id, joined in response.rooms.join.items():
            for event in [*joined.state, *joined.timeline.events]:
                self.handlers.creators.note(room_id, event.source)
            room = self.client.rooms.get(room_id)
            if room is not None and not skip_timeline:
                for event in joined.timeline.events:
                    self.handlers.dispatch(room, event.source)
        self._since, self._has_state = response.next_batch, True
        await self._session.put("next_batch", response.next_batch)
        if self._recovery is None and not self._stopping:
            # Jobs a crash cut off: their users are told (in the background, once), now that the rooms are
            # known (nio encrypts only for rooms a sync has shown it).
            self._recovery = asyncio.create_task(keep_telling(self._core, self.outbox))

    async def _crypto_upkeep(self) -> None:
        """What nio's sync_forever does between syncs for end-to-end encryption: publish this device's keys,
        learn the members' devices, open sessions with them, and send the room keys it owes."""
        client = self.client
        if client.olm is None:
            return
        try:
            if client.should_upload_keys:
                await self.api.call(client.keys_upload, "keys upload")
            if client.should_query_keys:
                await self.api.call(client.keys_query, "keys query")
            if client.should_claim_keys:
                users = client.get_users_for_key_claiming()
                await self.api.call(lambda: client.keys_claim(users), "keys claim")
            await asyncio.wait_for(client.send_to_device_messages(), self.api.timeout)
        except (MatrixError, aiohttp.ClientError, TimeoutError) as exc:  # tried again after the next sync
            log.warning("matrix: encryption keys: %s", exc)

    async def _join(self, room_id: str) -> None:
        response = await self.api.call(lambda: self.client.join(room_id), "join")
        if isinstance(response, JoinResponse):
            log.info("matrix: joined %s", room_id)

    def alive(self) -> bool:
        """Syncing (retrying through a homeserver's restart counts) or standing by: False once stopped,
        refused for good, or its lease lost."""
        if self._stopping or (self.failure is not None and self.failure.done()):
            return False
        running = self._sync if self._sync is not None else self._standby
        return running is not None and not running.done()

    async def stop_intake(self) -> None:
        """Take no new events; running work goes on and can still answer."""
        self._stopping = True
        await cancel_and_wait(self._standby)
        await cancel_and_wait(self._sync)
        self._sync = None
        await cancel_and_wait(self._heartbeat)

    async def close(self, grace: float = 10.0) -> None:
        """Once the jobs have delivered: let other handlers finish (bounded), then close the session."""
        await cancel_and_wait(self._recovery)
        pending = [task for task in self.handlers.inflight if not task.done()]
        if pending:
            log.info("matrix: waiting for %d running request(s)", len(pending))
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.outbox.background.drain(5.0)
        if self.failure is not None and not self.failure.done():
            self.failure.cancel()
        await self.client.close()
        await self._lease.release()  # a process standing by takes over


class _RetrySync(Exception):
    def __init__(self, reason: str, wait: float) -> None:
        super().__init__(reason)
        self.wait = wait


class _FatalSync(Exception):
    pass


def guard_logs(secrets: list[str]) -> None:
    """nio, aiohttp and this adapter log requests and errors: mask the token and password in their records,
    and in what the process's handlers print, whatever they are."""
    names = [*LOGGERS, *(name for name in logging.root.manager.loggerDict if name.startswith(LOGGERS))]
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in dict.fromkeys(names)]
    targets += logging.getLogger().handlers
    for target in targets:
        for old in [f for f in target.filters if isinstance(f, RedactingFilter)]:
            target.removeFilter(old)
        target.addFilter(RedactingFilter(secrets))
