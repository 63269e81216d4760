"""Polling is one process's job: Telegram hands each update to one getUpdates caller, and two callers
terminate each other's requests (409 Conflict). A named lease "telegram-poller:<bot id>" in the store
is held while polling and renewed by a heartbeat, so a second poller on the same database refuses to
start; one on another database meets Telegram's Conflict and stops with the same line. Several
processes take updates by webhook instead (TELEGRAM_WEBHOOK_URL)."""

from __future__ import annotations

from adapters.held_lease import HeldLease
from bot.clock import Clock
from bot.store.instances import LEASE_TTL_SECONDS
from bot.store.leases import LeaseStore

ONE_POLLER = (
    "Another Atelier process is already polling this Telegram bot ({who}). Run one poller, or use webhook mode "
    "(TELEGRAM_WEBHOOK_URL) for several workers."
)
OTHER_DATABASE = "Telegram ended this process's getUpdates for another one, with another database"


def lease_name(bot_id: int) -> str:
    return f"telegram-poller:{bot_id}"


def one_poller(who: str) -> str:
    return ONE_POLLER.format(who=who)


class PollerLease(HeldLease):
    def __init__(self, leases: LeaseStore, name: str, owner: str, clock: Clock, ttl: float = LEASE_TTL_SECONDS) -> None:
        super().__init__(leases, name, owner, clock, one_poller, ttl)
