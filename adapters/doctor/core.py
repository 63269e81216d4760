"""The core's checks: the database (writable, its schema), the models the settings name, and each configured
provider (reachable, its key accepted), all without generating anything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from adapters.doctor.lines import CHECK_TIMEOUT_SECONDS, Line, fail, ok
from bot.config import Settings
from bot.moderation.classifier import Classifier
from bot.preflight import catalogue_problem, database_problem, folder_problem
from bot.providers.catalogue import Catalogue
from bot.providers.probe import Probe, ProbeStatus
from bot.providers.registry import build_catalogue, build_http_client, probes
from bot.store.db import StoreUnavailable, redact_url
from bot.store.schema_state import schema_state

log = logging.getLogger(__name__)


async def database_lines(settings: Settings) -> list[Line]:
    problem = await asyncio.to_thread(_file_problem, settings)
    if problem:
        return [fail("database", problem)]
    try:
        state = await schema_state(settings.database_url)
    except StoreUnavailable as exc:
        return [fail("database", f"{exc}: check DATABASE_URL")]
    where = redact_url(settings.database_url).removeprefix("sqlite:///")
    if state.newer_than_code:
        return [
            fail(
                "database",
                f"{where} has schema {state.version}, newer than this Atelier knows ({state.known}): "
                "upgrade Atelier, or set DATABASE_URL to another database",
            )
        ]
    if state.read_only:
        return [fail("database", f"{where} cannot be written with this login: check DATABASE_URL (user, privileges)")]
    if state.version is None:
        postgres = settings.database_is_postgres
        empty = (
            "no Atelier tables yet; `atelier run` creates them"
            if postgres
            else "not created yet; `atelier run` creates it"
        )
        return [ok("database", f"{where}: {empty} at start")]
    if state.version < state.known:
        return [ok("database", f"{where}: schema {state.version} of {state.known}; `atelier run` migrates it at start")]
    return [ok("database", f"{where}: schema {state.version}, up to date")]


def _file_problem(settings: Settings) -> str | None:
    """Blocking: the database file (or, with PostgreSQL, DATA_DIR) and a DATA_DIR set apart from it."""
    problem = database_problem(settings)
    if problem is None and settings.data_dir is not None and not settings.database_is_postgres:
        unusable = folder_problem(settings.data_dir)
        problem = None if unusable is None else f"Setting DATA_DIR is invalid: {unusable}"
    return problem


async def provider_lines(settings: Settings) -> list[Line]:
    """The models line (does a configured provider offer IMAGE_MODEL and CHAT_MODEL?), then one per provider."""
    client = build_http_client(settings)
    try:
        try:
            catalogue = build_catalogue(settings, client)
        except ValueError as exc:  # e.g. a RELAY_MODELS entry Relay does not have
            return [fail("providers", str(exc))]
        try:
            problem = catalogue_problem(settings, catalogue)
            lines = [fail("models", problem) if problem else ok("models", _models_text(settings, catalogue))]
            found = probes(catalogue)
            results = await asyncio.gather(*(_safely(probe) for probe in found.values()))
            return lines + [_probe_line(name, result) for name, result in zip(found, results, strict=True)]
        finally:
            await catalogue.aclose()
    finally:
        await client.aclose()


async def _safely(probe: Callable[[], Awaitable[Probe]]) -> Probe:
    """A probe that breaks is its provider's red line, not the end of the others'."""
    try:
        return await probe()
    except Exception as exc:
        log.debug("probe failed", exc_info=True)
        return Probe(ProbeStatus.FAILED, f"the check could not run ({type(exc).__name__}: {exc})")


def _models_text(settings: Settings, catalogue: Catalogue) -> str:
    chat = f", CHAT_MODEL {settings.chat_model}" if catalogue.chat_providers else ""
    return f"IMAGE_MODEL {settings.image_model}{chat}"


async def moderation_lines(settings: Settings) -> list[Line]:
    """The moderation service MODERATION_API_URL names (only when set), checked like a provider."""
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
        classifier = Classifier.from_settings(settings, client)
        if classifier is None:
            return []
        return [_probe_line("moderation", await classifier.probe())]


def provider_settings(name: str) -> tuple[str, str]:
    """The settings that give provider `name` (or the moderation service) its address and its credentials."""
    if name == "moderation":
        return "MODERATION_API_URL", "MODERATION_API_KEY"
    if name == "a1111":
        return "A1111_BASE_URL", "A1111_USERNAME / A1111_PASSWORD"
    if name == "apiframe":
        return "APIFRAME_BASE_URL", "APIFRAME_API_KEY (and APIFRAME_AUTH_SCHEME)"
    prefix = name.upper()
    return f"{prefix}_BASE_URL", f"{prefix}_API_KEY"


def _probe_line(name: str, probe: Probe) -> Line:
    address, credentials = provider_settings(name)
    what = name if name == "moderation" else f"provider {name}"
    match probe.status:
        case ProbeStatus.ACCEPTED:
            return ok(what, probe.detail)
        case ProbeStatus.REACHABLE:
            return ok(what, f"{probe.detail} (only reachability was checked)")
        case ProbeStatus.REJECTED:
            return fail(what, f"the credentials were refused ({probe.detail}): check {credentials}")
        case ProbeStatus.UNREACHABLE:
            return fail(what, f"{probe.detail}: check {address} and the network")
    return fail(what, f"{probe.detail}: check {address} and {credentials}")
