"""multipart/form-data bodies split from bytes already read, so a fake can note when a request arrived (its
last byte) before it spends time parsing it: an upload's arrival is then the client's work, not the fake's."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def boundary_of(content_type: str) -> str:
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    return found.group(1) if found else ""


def _parse_disposition(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, quoted, bare in re.findall(r';\s*([\w*]+)=(?:"((?:[^"\\]|\\.)*)"|([^;]*))', value):
        raw = quoted if quoted or not bare else bare.strip()
        # httpx (HTML5 form encoding) escapes '"' and control characters as %XX and '\' as '\\'
        raw = re.sub(r"%(22|[01][0-9A-F])", lambda m: chr(int(m.group(1), 16)), raw).replace("\\\\", "\\")
        params[key.lower()] = raw
    return params


def split_parts(body: bytes, boundary: str) -> list[Part]:
    """The named parts of a multipart/form-data body, in order."""
    parts: list[Part] = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = _parse_disposition(headers.get("content-disposition", ""))
        if "name" in disposition:
            parts.append(
                Part(
                    disposition["name"],
                    disposition.get("filename"),
                    headers.get("content-type"),
                    content.removesuffix(b"\r\n"),
                )
            )
    return parts
