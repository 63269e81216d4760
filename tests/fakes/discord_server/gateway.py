"""The gateway: websocket + transport compression, HELLO/IDENTIFY/RESUME, READY and GUILD_CREATE,
heartbeats, member chunking, intent filtering, and DISPATCH to sessions (buffered for resume). A session that
IDENTIFYs with ``shard: [id, count]`` gets only its shard's guilds, the way Discord routes them:
``(guild_id >> 22) % count == id``; DMs go to shard 0."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .models import API_VERSION, PRIVILEGED_INTENTS, THREAD_TYPES, Intent, RecordedRequest
from .world import WorldMixin


@dataclass
class _Session:
    id: str
    intents: int
    seq: int = 0
    backlog: list[dict[str, Any]] = field(default_factory=list)
    conn: _Connection | None = None
    shard: tuple[int, int] | None = None  # (id, count); None: unsharded, every guild

    def owns(self, guild_id: int | None) -> bool:
        if self.shard is None:
            return True
        return shard_of(guild_id, self.shard[1]) == self.shard[0]


def shard_of(guild_id: int | None, count: int) -> int:
    """The shard Discord sends a guild's events to (a DM's go to shard 0)."""
    return 0 if guild_id is None else (guild_id >> 22) % count


def _event_guild(event: str, data: dict[str, Any]) -> int | None:
    raw = data.get("id") if event.startswith("GUILD_") and "guild_id" not in data else data.get("guild_id")
    return None if raw is None else int(raw)


class _Connection:
    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.session: _Session | None = None
        self._lock = asyncio.Lock()
        self._compressor = _make_compressor(compress)

    async def send(self, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        async with self._lock:
            if self.ws.closed:
                return
            if self._compressor is None:
                await self.ws.send_str(raw)
            else:
                await self.ws.send_bytes(self._compressor(raw.encode()))


def _make_compressor(kind: str | None) -> Callable[[bytes], bytes] | None:
    """Transport compression: one streaming context per connection, flushed after every payload."""
    if kind == "zlib-stream":
        deflate = zlib.compressobj()
        return lambda data: deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
    if kind == "zstd-stream":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            from compression import zstd  # type: ignore[import-not-found]

            cctx = zstd.ZstdCompressor()
            return lambda data: cctx.compress(data, mode=zstd.ZstdCompressor.FLUSH_BLOCK)
        cobj = zstandard.ZstdCompressor().compressobj()
        return lambda data: cobj.compress(data) + cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    return None


_INTENT_FOR_EVENT: dict[str, int] = {
    "GUILD_CREATE": Intent.GUILDS,
    "THREAD_CREATE": Intent.GUILDS,
    "THREAD_UPDATE": Intent.GUILDS,
    "THREAD_DELETE": Intent.GUILDS,
    "CHANNEL_CREATE": Intent.GUILDS,
    "GUILD_ROLE_CREATE": Intent.GUILDS,
    "GUILD_MEMBER_ADD": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": Intent.GUILD_MEMBERS,
}


def _shape_for_intents(event: str, data: dict[str, Any], intents: int, bot_id: int) -> dict[str, Any] | None:
    """Drop events the session did not subscribe to; scrub content without MESSAGE_CONTENT."""
    needed: int
    if event.startswith("MESSAGE_REACTION"):
        needed = Intent.GUILD_MESSAGE_REACTIONS if "guild_id" in data else Intent.DIRECT_MESSAGE_REACTIONS
    elif event.startswith("MESSAGE_"):
        needed = Intent.GUILD_MESSAGES if "guild_id" in data else Intent.DIRECT_MESSAGES
    else:
        needed = _INTENT_FOR_EVENT.get(event, 0)
    if needed and not intents & needed:
        return None
    if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not intents & Intent.MESSAGE_CONTENT:
        exempt = (
            "guild_id" not in data
            or data.get("author", {}).get("id") == str(bot_id)
            or any(u["id"] == str(bot_id) for u in data.get("mentions", []))
        )
        if not exempt:
            data = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
            data.pop("poll", None)
    return data


class GatewayMixin(WorldMixin):
    """Serve the websocket gateway and push events to connected (or resumable) sessions."""

    _sessions: dict[str, _Session]
    _conns: set[_Connection]

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        query = request.query
        self.gateway_queries.append({"path": request.path, **query})
        compress = query.get("compress")
        if query.get("v", str(API_VERSION)) not in ("9", "10"):
            await ws.close(code=4012, message=b"Invalid API version")
            return ws
        if query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"Error while decoding payload.")  # the fake speaks JSON only
            return ws
        conn = _Connection(ws, compress if compress in ("zlib-stream", "zstd-stream") else None)
        self._conns.add(conn)
        client_close: int | None = None
        try:
            trace = json.dumps(["gateway-prd-fake-1", {"micros": 0}])
            await conn.send(self._op(10, {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": [trace]}))
            while not ws.closed:
                msg = await ws.receive()
                if msg.type is WSMsgType.CLOSE:  # the client closed; aiohttp answers the handshake
                    client_close = msg.data
                    break
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break  # CLOSING/CLOSED/ERROR: we closed it or the transport died
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                self.gateway_received.append(payload)
                self._notify()
                try:
                    await self._on_gateway_payload(conn, payload)
                except Exception as exc:
                    self.internal_errors.append(exc)
                    raise
        finally:
            self._conns.discard(conn)
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                # A client close with 1000/1001 ends the session (not resumable), like Discord.
                # (ws.close_code is useless here: aiohttp reports 1000 for server-initiated closes too.)
                if client_close in (1000, 1001):
                    self._sessions.pop(session.id, None)
            self._notify()
        return ws

    @staticmethod
    def _op(op: int, d: Any) -> dict[str, Any]:
        return {"op": op, "d": d, "s": None, "t": None}

    async def _on_gateway_payload(self, conn: _Connection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        d: Any = payload.get("d")
        if op == 1:
            await conn.send(self._op(11, None))
        elif op == 2:
            await self._identify(conn, d)
        elif op == 6:
            await self._resume(conn, d)
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
        elif op == 8:
            await self._request_members(conn.session, d)
        elif op in (3, 4, 31, 37):  # presence, voice state, soundboard, channel info: accepted, ignored
            return
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: _Connection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if not self._token_ok(d.get("token")):
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents >= 1 << 26:
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        allowed = {PRIVILEGED_INTENTS[name] for name in self.privileged_intents}
        if any(intents & bit and bit not in allowed for bit in PRIVILEGED_INTENTS.values()):
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = d.get("shard")
        valid = isinstance(shard, list) and len(shard) == 2 and all(isinstance(n, int) for n in shard)
        if shard is not None and not (valid and 0 <= shard[0] < shard[1]):
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        if (1 if shard is None else shard[1]) < self.required_shards:
            await conn.ws.close(code=4011, message=b"Sharding required.")
            return
        self.identify = d
        self.identifies.append(d)
        session = _Session(
            id=secrets.token_hex(16), intents=intents, conn=conn, shard=None if shard is None else (shard[0], shard[1])
        )
        guilds = [gid for gid in self.guilds if session.owns(gid)]
        self._sessions[session.id] = session
        conn.session = session
        ready = {
            "v": API_VERSION,
            "user": self._bot_user_full(),
            "user_settings": {},
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": f"ws://127.0.0.1:{self.port}/resume",
            "guilds": [{"id": str(gid), "unavailable": True} for gid in guilds],
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "auth": {},
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "_trace": [json.dumps(["gateway-prd-fake-1", {"micros": 0}])],
        }
        if shard is not None:
            ready["shard"] = shard
        await self._send_dispatch(session, "READY", ready)
        for gid in guilds:
            await self._send_dispatch(session, "GUILD_CREATE", self._guild_create_payload(gid, intents))

    async def _resume(self, conn: _Connection, d: dict[str, Any]) -> None:
        session = self._sessions.get(d.get("session_id", ""))
        if session is None or not self._token_ok(d.get("token")) or (d.get("seq") or 0) > session.seq:
            await conn.send(self._op(9, False))
            return
        if session.conn is not None and session.conn is not conn:
            await session.conn.ws.close(code=4000, message=b"Session resumed elsewhere")
        session.conn, conn.session = conn, session
        for event in session.backlog:
            if event["s"] > (d.get("seq") or 0):
                await conn.send(event)
        await self._send_dispatch(session, "RESUMED", {"_trace": ["gateway-prd-fake-1"]})

    async def _request_members(self, session: _Session, d: dict[str, Any]) -> None:
        gid = int(d["guild_id"])
        query, limit = d.get("query"), d.get("limit") or 0
        user_ids = {int(u) for u in d.get("user_ids") or []}
        if query == "" and limit == 0 and not session.intents & Intent.GUILD_MEMBERS:
            if session.conn is not None:
                await session.conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        found = [
            self._member_payload(gid, uid)
            for uid in self.members.get(gid, {})
            if (not user_ids or uid in user_ids)
            and (not query or self.users[uid]["username"].lower().startswith(query.lower()))
        ]
        if limit:
            found = found[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(gid),
            "members": found,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in user_ids if u not in self.members.get(gid, {})],
        }
        if d.get("presences"):
            chunk["presences"] = []
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_dispatch(self, session: _Session, event: str, data: dict[str, Any]) -> int:
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.backlog.append(payload)
        if session.conn is not None:
            await session.conn.send(payload)
        return session.seq

    async def dispatch(self, event: str, data: dict[str, Any], *, require_session: bool = True) -> None:
        """Send a DISPATCH to every identified session whose intents and shard cover the event.

        Sessions that are disconnected but resumable buffer it (replayed on RESUME).
        """
        if require_session and not self._sessions:
            raise RuntimeError(f"cannot dispatch {event}: no gateway session (is the bot connected?)")
        guild_id = _event_guild(event, data)
        for session in list(self._sessions.values()):
            if not session.owns(guild_id):
                continue
            shaped = _shape_for_intents(event, data, session.intents, self.bot_id)
            if shaped is not None:
                await self._send_dispatch(session, event, shaped)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py then RESUMEs on ``resume_gateway_url``."""
        for session in list(self._sessions.values()):
            if session.conn is not None:
                await session.conn.send(self._op(7, None))

    async def drop_connection(self, code: int = 4000) -> None:
        """Close gateway sockets with ``code`` (4000 keeps the session resumable)."""
        for session in list(self._sessions.values()):
            if session.conn is not None:
                await session.conn.ws.close(code=code, message=b"fake drop")

    async def invalidate_session(self, resumable: bool = False) -> None:
        for session in list(self._sessions.values()):
            if session.conn is not None:
                await session.conn.send(self._op(9, resumable))
            if not resumable:
                self._sessions.pop(session.id, None)

    @property
    def connected(self) -> bool:
        return any(s.conn is not None for s in self._sessions.values())

    def _guild_create_payload(self, guild_id: int, intents: int) -> dict[str, Any]:
        channels = [
            {k: v for k, v in c.items() if k != "guild_id"}
            for c in self.channels.values()
            if c.get("guild_id") == str(guild_id) and c["type"] not in THREAD_TYPES
        ]
        threads = [
            c
            for c in self.channels.values()
            if c.get("guild_id") == str(guild_id) and c["type"] in THREAD_TYPES and not c["thread_metadata"]["archived"]
        ]
        # Without GUILD_PRESENCES Discord only sends the bot itself (the rest must be chunked).
        member_ids = list(self.members[guild_id])
        if not intents & Intent.GUILD_PRESENCES:
            member_ids = [self.bot_id]
        return {
            **self._guild_payload(guild_id),
            "joined_at": self.members[guild_id][self.bot_id]["joined_at"],
            "large": False,
            "unavailable": False,
            "member_count": len(self.members[guild_id]),
            "members": [self._member_payload(guild_id, uid) for uid in member_ids],
            "channels": channels,
            "threads": threads,
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "lazy": True,
            "application_command_counts": {},
            "version": int(time.time() * 1000),
        }

    async def _get_gateway(self, rec: RecordedRequest) -> tuple[int, Any]:
        body: dict[str, Any] = {"url": self.gateway_url.rstrip("/")}
        if rec.route.endswith("/bot"):
            limits = {
                "total": 1000,
                "remaining": 999,
                "reset_after": 86_400_000,
                "max_concurrency": self.max_concurrency,
            }
            body.update(shards=max(1, self.required_shards), session_start_limit=limits)
        return 200, body
