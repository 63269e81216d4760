"""Attachments: bytes stored on the fake CDN, uploads (``files[n]`` parts + ``attachments`` metadata)
applied to messages, and the CDN routes that serve them."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import re
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .models import ATTACHMENT_SIZE_LIMIT, MESSAGE_FLAG_EPHEMERAL, ApiError, RecordedFile, _form_error
from .state import DiscordState


class AttachmentsMixin(DiscordState):
    """Store and serve attachment bytes; attach uploaded files to messages."""

    _blobs: dict[int, tuple[bytes, str]]  # attachment id -> (bytes, content type)

    def add_attachment(
        self,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        channel_id: int | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> dict[str, Any]:
        """Store bytes on the fake CDN and return a Discord attachment object pointing at them."""
        content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        attachment_id = self.snowflake()
        self._blobs[attachment_id] = (data, content_type)
        cid = channel_id or self.channel_id or attachment_id
        prefix = "ephemeral-attachments" if ephemeral else "attachments"
        now = int(time.time())
        signature = f"?ex={now + 86400:x}&is={now:x}&hm={hashlib.sha256(data).hexdigest()}&"
        path = f"/{cid}/{attachment_id}/{filename}"
        attachment: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": f"{self.base_url}/{prefix}{path}{signature}",
            "proxy_url": f"{self.base_url}/media/attachments{path}{signature}",
            "content_type": content_type,
            "content_scan_version": 0,
        }
        if description is not None:
            attachment["description"] = description
        if ephemeral:
            attachment["ephemeral"] = True
        attachment.update(_image_size(data, content_type))
        return attachment

    def attachment_bytes(self, attachment: dict[str, Any] | int) -> bytes:
        attachment_id = int(attachment["id"]) if isinstance(attachment, dict) else attachment
        return self._blobs[attachment_id][0]

    def _apply_attachments(self, msg: dict[str, Any], payload: dict[str, Any], files: Sequence[RecordedFile]) -> None:
        if sum(len(f.data) for f in files) > ATTACHMENT_SIZE_LIMIT:
            raise ApiError(413, 40005, "Request entity too large")
        by_index: dict[int, RecordedFile] = {}
        for f in files:
            match = re.fullmatch(r"files\[(\d+)\]", f.field)
            by_index[int(match.group(1)) if match else len(by_index)] = f
        ephemeral = bool(msg["flags"] & MESSAGE_FLAG_EPHEMERAL)
        existing = {a["id"]: a for a in msg["attachments"]}

        def upload(f: RecordedFile, meta: dict[str, Any]) -> dict[str, Any]:
            ctype = mimetypes.guess_type(meta.get("filename") or f.filename)[0] or f.content_type
            return self.add_attachment(
                f.data,
                meta.get("filename") or f.filename,
                ctype,
                channel_id=int(msg["channel_id"]),
                description=meta.get("description"),
                ephemeral=ephemeral,
            )

        if "attachments" in payload:
            result = []
            for meta in payload["attachments"] or []:
                key = str(meta.get("id"))
                if key in existing:
                    result.append(existing[key])
                elif key.isdigit() and int(key) in by_index:
                    result.append(upload(by_index.pop(int(key)), meta))
                else:
                    raise _form_error("attachments", "ATTACHMENT_NOT_FOUND", f"Unknown attachment {key}")
            msg["attachments"] = result
        # files not described in ``attachments`` are appended (Discord's behaviour)
        msg["attachments"] = msg["attachments"] + [upload(f, {}) for _, f in sorted(by_index.items())]

    async def _cdn(self, request: web.Request) -> web.Response:
        self.cdn_requests.append(request.path_qs)
        self._notify()
        blob = self._blobs.get(int(request.match_info["attachment_id"]))
        if blob is None:
            return web.Response(status=404, text="This content is no longer available.")
        data, content_type = blob
        return web.Response(body=data, content_type=content_type, headers={"Cache-Control": "public, max-age=31536000"})


def _image_size(data: bytes, content_type: str) -> dict[str, int]:
    if not content_type.startswith("image/"):
        return {}
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return {"width": img.width, "height": img.height}
    except Exception:
        return {}
