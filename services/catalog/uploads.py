"""Uploaded image files, kept in the data folder under their content's hash. The type is sniffed
from the bytes (never trusted from the name or header) and must be one a browser shows as an image."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from services.kit.errors import DomainError

from .domain import CatalogError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_NAME = re.compile(r"^[0-9a-f]{64}\.(png|jpg|gif|webp)$")


def sniff(content: bytes) -> str | None:
    """The image type the bytes are, by their magic numbers; None for anything else."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class Stored:
    name: str
    content_type: str
    size: int


class Uploads:
    def __init__(self, folder: Path, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self._folder = folder
        self._max = max_bytes

    async def store(self, content: bytes, declared: str) -> Stored:
        if not content:
            raise DomainError(CatalogError.UNSUPPORTED_MEDIA, "the file is empty")
        if len(content) > self._max:
            raise DomainError(CatalogError.UPLOAD_TOO_LARGE, f"the file is larger than {self._max} bytes")
        kind = sniff(content)
        if kind is None:
            raise DomainError(CatalogError.UNSUPPORTED_MEDIA, "not a PNG, JPEG, GIF or WebP image")
        declared = declared.split(";")[0].strip().lower()
        if declared and declared != kind:
            raise DomainError(CatalogError.UNSUPPORTED_MEDIA, f"declared {declared} but the file is {kind}")
        name = f"{hashlib.sha256(content).hexdigest()}.{EXTENSIONS[kind]}"
        await asyncio.to_thread(self._write, name, content)
        return Stored(name, kind, len(content))

    def _write(self, name: str, content: bytes) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        target = self._folder / name
        if not target.exists():
            partial = target.with_suffix(".part")
            partial.write_bytes(content)
            partial.replace(target)  # atomic: a reader never sees half a file

    async def read(self, name: str) -> tuple[bytes, str]:
        match = _NAME.match(name)
        path = self._folder / name
        if match is None or not path.is_file():
            raise DomainError(CatalogError.UPLOAD_NOT_FOUND, f"no upload {name!r}")
        content = await asyncio.to_thread(path.read_bytes)
        kind = {v: k for k, v in EXTENSIONS.items()}[match[1]]
        return content, kind
