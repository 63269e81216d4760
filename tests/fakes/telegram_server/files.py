"""Files: stored uploads with Telegram-like file ids, photos as PhotoSize lists (real thumbnails), documents,
resolving InputFile values (upload, ``attach://``, file_id, HTTP URL) and ``getFile``."""

from __future__ import annotations

import io
import mimetypes
import re
import secrets
from typing import Any

import aiohttp
from PIL import Image, UnidentifiedImageError

from .models import MAX_DOWNLOAD, Call, JSONDict, StoredFile, bad_request
from .state import TelegramState


class FilesMixin(TelegramState):
    """Store, look up and download files."""

    _file_counter: int
    _http: aiohttp.ClientSession | None  # for fetching HTTP URLs the bot sends

    def add_file(
        self, data: bytes, *, kind: str = "photo", file_name: str | None = None, mime_type: str | None = None
    ) -> str:
        """Store bytes as if a user uploaded them; returns the file_id (largest size for photos)."""
        if kind == "photo":
            return self._store_photo(data, strict=False)[-1]["file_id"]
        return self._store_document(data, file_name or "file.bin", mime_type)["file_id"]

    def add_sticker(self, data: bytes, *, animated: bool = False, video: bool = False) -> str:
        """Store a sticker as if a user sent it (static: WebP; animated: TGS; video: WebM); returns its file_id."""
        file_id, unique_id = self._new_file_ids("sticker")
        ext = "tgs" if animated else "webm" if video else "webp"
        info = _image_info(data) if not (animated or video) else None
        width, height = info[:2] if info else (512, 512)
        self._files[file_id] = StoredFile(
            file_id, unique_id, data, f"stickers/file_{self._file_counter}.{ext}", "sticker",
            extra={"type": "regular", "width": width, "height": height, "is_animated": animated, "is_video": video},
        )  # fmt: skip
        return file_id

    def add_animation(self, data: bytes, *, file_name: str = "animation.mp4") -> str:
        """Store a GIF animation as Telegram keeps it (an MP4); returns its file_id."""
        file_id, unique_id = self._new_file_ids("animation")
        self._files[file_id] = StoredFile(
            file_id, unique_id, data, f"animations/file_{self._file_counter}.mp4", "animation", file_name,
            "video/mp4", extra={"width": 320, "height": 240, "duration": 2},
        )  # fmt: skip
        return file_id

    def _media_dict(self, stored: StoredFile) -> JSONDict:
        return {**self._document_dict(stored), **stored.extra}

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id].data

    def _file(self, file_id: str, kind: str) -> StoredFile:
        stored = self._files.get(file_id)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request(f"can't use file of type {stored.kind.title()} as {kind.title()}")
        return stored

    def _new_file_ids(self, kind: str) -> tuple[str, str]:
        self._file_counter += 1
        prefix = "AgACAgIAAxkBAA" if kind == "photo" else "BQACAgIAAxkBAA"
        return (
            f"{prefix}{self._file_counter:06d}{secrets.token_urlsafe(18)}",
            f"AQAD{self._file_counter:04d}{secrets.token_urlsafe(6)}",
        )

    def _store_photo(self, data: bytes, *, strict: bool = True) -> list[JSONDict]:
        if not data:
            raise bad_request("file must be non-empty")
        info = _image_info(data)
        if info is None:
            if strict:
                raise bad_request("IMAGE_PROCESS_FAILED")
            info = (512, 512, "jpeg")
        width, height, fmt = info
        if strict and (width + height > 10_000 or max(width, height) > 20 * min(width, height)):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        variants = [_thumbnail(data, limit) for limit in (90, 320, 800) if max(width, height) > limit]
        variants.append((data, width, height))
        sizes: list[JSONDict] = []
        for blob, w, h in variants:
            file_id, unique_id = self._new_file_ids("photo")
            ext = "jpg" if blob is not data or fmt == "jpeg" else fmt
            self._files[file_id] = StoredFile(
                file_id, unique_id, blob, f"photos/file_{self._file_counter}.{ext}", "photo", photo_sizes=sizes
            )
            sizes.append(
                {"file_id": file_id, "file_unique_id": unique_id, "file_size": len(blob), "width": w, "height": h}
            )
        return sizes

    def _store_document(self, data: bytes, file_name: str, mime_type: str | None) -> JSONDict:
        if not data:
            raise bad_request("file must be non-empty")
        file_id, unique_id = self._new_file_ids("document")
        ext = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        stored = StoredFile(
            file_id,
            unique_id,
            data,
            f"documents/file_{self._file_counter}.{ext}",
            "document",
            file_name,
            mime_type or _guess_mime(file_name),
        )
        self._files[file_id] = stored
        return self._document_dict(stored)

    @staticmethod
    def _document_dict(stored: StoredFile) -> JSONDict:
        doc = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(stored.data)}
        if stored.file_name:
            doc["file_name"] = stored.file_name
        if stored.mime_type:
            doc["mime_type"] = stored.mime_type
        return doc

    async def _input_file(
        self, value: Any, files: dict[str, tuple[str, bytes]], field_name: str, kind: str
    ) -> tuple[str, bytes] | StoredFile:
        """Resolve an InputFile: multipart upload, ``attach://name``, known file_id or HTTP URL."""
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"can't parse InputMedia: media not found ({value})")
            return upload
        if value in (None, "") and field_name in files:
            return files[field_name]
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {kind} in the request")
        if re.match(r"https?://", value):
            return await self._fetch_url(value)
        return self._file(value, kind)

    async def _fetch_url(self, url: str) -> tuple[str, bytes]:
        """Telegram downloads URLs itself; works for servers on 127.0.0.1 (e.g. other fakes)."""
        self._http = self._http or aiohttp.ClientSession()
        try:
            async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status != 200:
                    raise bad_request("failed to get HTTP URL content")
                return url.rsplit("/", 1)[-1] or "file", await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            raise bad_request("failed to get HTTP URL content") from None

    def _get_file(self, call: Call) -> JSONDict:
        stored = self._files.get(str(call.params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }


def _image_info(data: bytes) -> tuple[int, int, str] | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.width, img.height, (img.format or "jpeg").lower()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return None


def _thumbnail(data: bytes, limit: int) -> tuple[bytes, int, int]:
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
        rgb.thumbnail((limit, limit))
        out = io.BytesIO()
        rgb.save(out, "JPEG", quality=80)
        return out.getvalue(), rgb.width, rgb.height


def _guess_mime(file_name: str) -> str:
    return mimetypes.guess_type(file_name)[0] or "application/octet-stream"
