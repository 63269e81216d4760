"""Checks made once at start, before anything is served: the database can be written, and the models the
settings name are offered by a configured provider. Each problem is one line naming the setting to fix."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from bot.config import Settings
from bot.providers.catalogue import Catalogue, UnknownModel

NO_PROVIDER = "No provider is configured: set AGNES_API_KEY (or another provider's settings, see README)."


def database_problem(settings: Settings) -> str | None:
    """Blocking file checks: call before the event loop starts (or in a thread). A PostgreSQL server is
    reached at start (Atelier.start); here only the data dir, where result files go, must be writable."""
    if settings.database_is_postgres:
        unusable = folder_problem(settings.files_dir)
        return None if unusable is None else f"Setting DATA_DIR is invalid: {unusable}"
    path = settings.database_path
    if str(path) == ":memory:":
        return None
    try:
        _check_database(path)
    except _Unusable as exc:
        return f"Setting DATABASE_URL is invalid: {exc}"
    return None


def catalogue_problem(
    settings: Settings, catalogue: Catalogue, image_model_source: str = "Setting IMAGE_MODEL"
) -> str | None:
    """No provider at all, or an IMAGE_MODEL / CHAT_MODEL that none of them offers (every request would fail)."""
    if not catalogue.image_models() and not catalogue.chat_providers:
        return NO_PROVIDER
    try:
        catalogue.resolve_image_model(settings.image_model)
    except UnknownModel as exc:
        return f"{image_model_source} is invalid: {exc} Each provider's *_MODELS setting lists the models it offers."
    if catalogue.chat_providers:
        try:
            catalogue.resolve_chat(settings.chat_model)
        except UnknownModel as exc:
            return f"Setting CHAT_MODEL is invalid: {exc}"
    return None


class _Unusable(Exception):
    """Why the database file cannot be used, in one sentence."""


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (created if missing), or None. Blocking."""
    try:
        _check_folder(folder)
    except _Unusable as exc:
        return str(exc)
    return None


def _check_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise _Unusable(f"cannot create the folder {exc.filename or folder}: a file has that name") from None
    except OSError as exc:
        raise _Unusable(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise _Unusable(f"cannot write in the folder {folder}: {exc.strerror or exc}") from None


def _check_database(path: Path) -> None:
    if path.is_dir():
        raise _Unusable(f"{path} is a folder, not a database file")
    _check_folder(path.parent)  # SQLite writes its -wal and -shm files beside the database
    if not path.exists():
        return
    try:
        with open(path, "r+b"):
            pass
        connection = sqlite3.connect(path, timeout=5.0)
        try:
            connection.execute("PRAGMA schema_version").fetchone()
        finally:
            connection.close()
    except OSError as exc:
        raise _Unusable(f"cannot write {path}: {exc.strerror or exc}") from None
    except sqlite3.DatabaseError as exc:
        raise _Unusable(f"{path} is not a SQLite database this bot can open ({exc})") from None
