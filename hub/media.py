"""Photo uploads: JPEG, PNG or WebP checked by content, stored by SHA-256 under media_dir, served at a stable URL."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path

from PIL import Image, UnidentifiedImageError

KINDS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
NAME = re.compile(r"^([0-9a-f]{64})\.(jpg|png|webp)$")


class MediaError(Exception):
    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status, self.description = status, description


def sniff(data: bytes) -> str | None:
    """The extension the content's magic bytes say, whatever the file is called."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_image(data: bytes, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise MediaError(413, f"file is larger than {max_bytes} bytes")
    if not data:
        raise MediaError(400, "file is empty")
    ext = sniff(data)
    if ext is None:
        raise MediaError(400, "file is not a JPEG, PNG or WebP image")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or "").upper()
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaError(400, f"file is not a readable image: {type(exc).__name__}") from None
    if {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[ext] != fmt:
        raise MediaError(400, "image content does not match its signature")
    return ext


def store(data: bytes, media_dir: Path, max_bytes: int) -> tuple[str, str, str]:
    """(sha256, ext, content_type); writing is atomic and idempotent (same content, same name)."""
    ext = check_image(data, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    media_dir.mkdir(parents=True, exist_ok=True)
    target = media_dir / f"{digest}.{ext}"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=media_dir, prefix=".upload-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    return digest, ext, KINDS[ext]


def path_of(name: str, media_dir: Path) -> tuple[Path, str] | None:
    m = NAME.match(name)
    if not m:
        return None
    p = media_dir / name
    return (p, KINDS[m.group(2)]) if p.is_file() else None
