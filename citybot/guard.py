"""The start-up guard: development credentials never serve beyond loopback.

The defaults in citybot/settings.py (api key, staff and channel tokens, phone-hash salt) are public — they are in
the README. A part that serves or reaches beyond this machine refuses to start while one of them is in force, and
says which setting to change and how to make a value. Loopback (127.0.0.0/8, ::1, localhost) stays free of it,
so `make run` and the tests need no secrets.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from citybot.settings import DEV_API_KEY, DEV_CHANNEL_TOKEN, DEV_PHONE_SALT, DEV_STAFF_TOKEN

GENERATE = "make each secret with `openssl rand -hex 32` (or `python -c 'import secrets; print(secrets.token_hex(32))'`)"
MIN_SECRET_CHARS = 16


class InsecureSettings(Exception):
    """Development credentials in force beyond loopback; the message names each setting to change."""


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; False for 0.0.0.0, ::, any other address or name."""
    host = (host or "").strip().strip("[]").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_is_loopback(url: str | None) -> bool:
    return is_loopback(urlsplit(url or "").hostname)


def _entries(text: str) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def hub_problems(settings, host: str) -> list[str]:
    """What stops the hub from listening on `host` with these settings (empty on loopback)."""
    if is_loopback(host):
        return []
    problems = []
    if any(entry.rpartition(":")[2] == DEV_API_KEY for entry in _entries(settings.hub_api_keys)):
        problems.append(f"HUB_API_KEYS holds the development api key {DEV_API_KEY}: give each client its own, "
                        "`HUB_API_KEYS=citybot:<secret>`")
    if any(entry.split(":", 1)[0] == DEV_STAFF_TOKEN for entry in _entries(settings.hub_staff_tokens)):
        problems.append(f"HUB_STAFF_TOKENS holds the development staff token {DEV_STAFF_TOKEN}: set "
                        "`HUB_STAFF_TOKENS=<secret>:admin:市:`")
    if any(entry.split(":", 1)[0] == DEV_CHANNEL_TOKEN for entry in _entries(settings.hub_channel_tokens)):
        problems.append(f"HUB_CHANNEL_TOKENS holds the development channel token {DEV_CHANNEL_TOKEN}: set "
                        "`HUB_CHANNEL_TOKENS=<secret>:tg`")
    problems += salt_problems(settings)
    return problems


def salt_problems(settings) -> list[str]:
    if settings.phone_hash_salt == DEV_PHONE_SALT or len(settings.phone_hash_salt) < MIN_SECRET_CHARS:
        return [f"PHONE_HASH_SALT is the development salt (or shorter than {MIN_SECRET_CHARS} characters): callers' "
                "phone numbers would be hashed with a public key; set `PHONE_HASH_SALT=<secret>`, and keep it: "
                "hotline cases are found by it"]
    return []


def webhook_problems(settings) -> list[str]:
    """The bot's webhook server: beyond loopback it needs a real secret."""
    if is_loopback(settings.telegram_webhook_host):
        return []
    secret = settings.telegram_webhook_secret or ""
    if len(secret) < MIN_SECRET_CHARS or secret in (DEV_API_KEY, DEV_STAFF_TOKEN, DEV_CHANNEL_TOKEN, DEV_PHONE_SALT):
        return [f"TELEGRAM_WEBHOOK_SECRET must be a secret of at least {MIN_SECRET_CHARS} characters (A-Z, a-z, 0-9, "
                f"_ and -) when the webhook listens on {settings.telegram_webhook_host}"]
    return []


def check(problems: list[str], component: str) -> None:
    """Raise InsecureSettings listing `problems` (nothing when there are none)."""
    if problems:
        raise InsecureSettings(f"{component} refuses to start: development credentials beyond loopback.\n  - "
                               + "\n  - ".join(problems)
                               + f"\nThen start again; {GENERATE}. See README, Configuration → What a deployment must set.")
