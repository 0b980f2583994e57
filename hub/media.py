"""Photo uploads: JPEG, PNG or WebP checked by content, decoded within limits, stored without metadata by SHA-256
under media_dir, served at a stable URL.

Every stored image is re-encoded from its pixels: EXIF (GPS position, camera, time), XMP, comments and text
chunks are dropped, and the EXIF orientation is applied first so that the photo still shows upright. An image
whose header claims more than `max_pixels` (a decompression bomb, or simply too large) is refused with 413
before any pixel is decoded; at most two images are decoded at once.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import threading
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

KINDS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
NAME = re.compile(r"^([0-9a-f]{64})\.(jpg|png|webp)$")
PIL_FORMATS = {"jpg": ("JPEG", "MPO"), "png": ("PNG",), "webp": ("WEBP",)}  # MPO: a phone's JPEG with extra frames
KEEP_INFO = ("icc_profile", "transparency", "dpi")  # colour and display, nothing about the scene or the person
DEFAULT_MAX_PIXELS = 50_000_000
_DECODING = threading.BoundedSemaphore(2)


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


def _too_large(width: int, height: int, max_pixels: int) -> MediaError:
    return MediaError(413, f"image is {width}x{height} pixels; at most {max_pixels} pixels are accepted")


def clean_image(data: bytes, max_bytes: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[bytes, str]:
    """(the image re-encoded without metadata, its extension); MediaError (400/413) for anything else."""
    if len(data) > max_bytes:
        raise MediaError(413, f"file is larger than {max_bytes} bytes")
    if not data:
        raise MediaError(400, "file is empty")
    ext = sniff(data)
    if ext is None:
        raise MediaError(400, "file is not a JPEG, PNG or WebP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format not in PIL_FORMATS[ext]:
                    raise MediaError(400, "image content does not match its signature")
                width, height = img.size
                if width * height > max_pixels:
                    raise _too_large(width, height, max_pixels)
                with _DECODING:
                    img.load()
                    out = _reencode(img, ext)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(413, f"image has too many pixels; at most {max_pixels} are accepted") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise MediaError(400, f"file is not a readable image: {type(exc).__name__}") from None
    return out, ext


def _reencode(img: Image.Image, ext: str) -> bytes:
    turned = img.getexif().get(0x0112, 1) not in (None, 1)  # EXIF orientation: the pixels must be turned
    upright = ImageOps.exif_transpose(img) if turned else img
    upright.info = {k: v for k, v in img.info.items() if k in KEEP_INFO}
    buf = io.BytesIO()
    if ext == "jpg":
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        # "keep" reuses the original quantisation (no extra loss) when the pixels were not turned
        quality = "keep" if upright is img and img.format in ("JPEG", "MPO") else 90
        upright.save(buf, "JPEG", quality=quality, optimize=False)
    elif ext == "png":
        upright.save(buf, "PNG")
    else:
        upright.save(buf, "WEBP", lossless=img.info.get("lossless", False), quality=90)
    return buf.getvalue()


def check_image(data: bytes, max_bytes: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """The extension of a valid image (MediaError otherwise); see `clean_image`."""
    return clean_image(data, max_bytes, max_pixels)[1]


def store(data: bytes, media_dir: Path, max_bytes: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, str, str, int]:
    """(sha256, ext, content_type, size) of the stored, cleaned image; writing is atomic and idempotent (same
    content, same name)."""
    clean, ext = clean_image(data, max_bytes, max_pixels)
    digest = hashlib.sha256(clean).hexdigest()
    media_dir.mkdir(parents=True, exist_ok=True)
    target = media_dir / f"{digest}.{ext}"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=media_dir, prefix=".upload-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(clean)
        os.replace(tmp, target)
    return digest, ext, KINDS[ext], len(clean)


def path_of(name: str, media_dir: Path) -> tuple[Path, str] | None:
    m = NAME.fullmatch(name)
    if not m:
        return None
    p = media_dir / name
    return (p, KINDS[m.group(2)]) if p.is_file() else None


def scrub(media_dir: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict[str, int]:
    """Strip the metadata of images stored before uploads were cleaned, in place: the file keeps its name (the
    URLs handed out stay valid). {"cleaned": n, "unchanged": n, "unreadable": n}."""
    counts = {"cleaned": 0, "unchanged": 0, "unreadable": 0}
    for path in sorted(media_dir.glob("*")):
        if not NAME.fullmatch(path.name):
            continue
        data = path.read_bytes()
        try:
            clean, _ = clean_image(data, max(len(data), 1), max_pixels)
        except MediaError:
            counts["unreadable"] += 1
            continue
        if _has_metadata(data):
            fd, tmp = tempfile.mkstemp(dir=media_dir, prefix=".scrub-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(clean)
            os.replace(tmp, path)
            counts["cleaned"] += 1
        else:
            counts["unchanged"] += 1
    return counts


def _has_metadata(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as img:
        return bool(img.getexif()) or any(k not in KEEP_INFO + ("jfif", "jfif_version", "jfif_unit", "jfif_density",
                                                                "loop", "background", "timestamp", "duration",
                                                                "progressive", "progression", "adobe",
                                                                "adobe_transform")
                                          for k in img.info)
