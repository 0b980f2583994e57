"""Settings from environment variables and an optional `.env` file (pydantic-settings).

Build them with `get_settings()` at startup, never at import. Every field is documented, with its default,
in the README's Configuration section; keep the two in step.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

# The local reference hub's development keys. Production deployments set their own in the environment: every part
# refuses to serve beyond loopback while one of these is in force (citybot/guard.py).
DEV_API_KEY = "citybot-dev-key"
DEV_STAFF_TOKEN = "citybot-dev-staff"
DEV_CHANNEL_TOKEN = "citybot-dev-channel"
DEV_PHONE_SALT = "citybot-dev-salt"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # -- shared ---------------------------------------------------------------------------------------
    var_dir: Path = Field(ROOT / "var", description="Where local state lives (SQLite files, media, logs)")
    log_level: str = "INFO"
    timezone: str = Field("Asia/Shanghai", description="The city's time zone for working-time clocks")
    categories_file: Path = Field(ROOT / "data" / "categories.yml")

    # -- the reference hub (server side) ----------------------------------------------------------------
    hub_database_url: str = Field("", description="Hub database; default sqlite:///<var_dir>/hub.db")
    hub_host: str = "127.0.0.1"
    hub_port: int = 8311
    hub_public_url: str = Field("", description="Base URL that media_url links use; default http://host:port")
    hub_api_keys: str = Field(
        DEV_API_KEY, description="Comma-separated Open311 api_keys the hub accepts, each `client:key` (or a bare "
                                 "key); account-linked reads answer a client only its own cases")
    hub_staff_tokens: str = Field(
        f"{DEV_STAFF_TOKEN}:admin:市:",
        description="Comma-separated staff tokens token:role:level:department the hub accepts",
    )
    hub_channel_tokens: str = Field(
        f"{DEV_CHANNEL_TOKEN}:tg", description="Comma-separated channel tokens token:channel: a channel (the Telegram "
                                              "bot: tg) acts for the staff members registered at the hub under it")
    hub_rate_limit_per_key: str = Field(
        "6000/60", description="Public writes and uploads per api key (or staff/channel token): N/seconds; 0 = off")
    hub_rate_limit_per_address: str = Field(
        "300/60", description="Public writes and uploads per client address: N/seconds; 0 = off")
    hub_rate_limit_exempt: str = Field(
        "127.0.0.0/8,::1", description="Client networks the per-address limit does not apply to (comma-separated)")
    media_dir: Path = Field(ROOT / "var" / "media")
    media_max_bytes: int = 10 * 1024 * 1024
    media_max_pixels: int = Field(50_000_000, description="Largest image (width x height) the hub decodes")
    work_periods: str = Field("08:30-12:00,14:00-18:00", description="Daily working periods, local time")
    holidays_file: Path = Field(ROOT / "data" / "holidays.yml", description="Public holidays and make-up workdays")
    duplicate_radius_m: float = 100.0
    duplicate_window_hours: float = 72.0
    hub_auto_dispatch: bool = Field(True, description="Dispatch a new case at once to its catalogue department")
    hub_sweep_interval_s: float = Field(60.0, description="Seconds between overdue sweeps inside the hub; 0 = off")
    hub_idempotency_retention_hours: float = Field(
        168.0, gt=0, description="How long the hub keeps an Idempotency-Key and its first answer (a repeat "
                                 "after that acts again)")
    hub_escalate_after_hours: float = Field(
        4.0, ge=0, description="Working hours a case may stay overdue (after being marked, or after its last "
                               "escalation) before the sweep escalates it one level up; 0 = never automatically")

    # -- clients of the hub -------------------------------------------------------------------------------
    hub_url: str = Field("http://127.0.0.1:8311", description="Base URL of the hub the bot files to")
    hub_api_key: str = DEV_API_KEY
    hub_staff_token: str = Field(DEV_STAFF_TOKEN, description="The staff token of `citybot staff` and "
                                                             "`citybot staff-users` (an admin's)")
    hub_channel_token: str = Field(DEV_CHANNEL_TOKEN, description="The bot's and notifier's channel token at the hub")
    hub_timeout_s: float = 10.0
    hub_retries: int = 3

    # -- geocoding (citybot/geocoder.py): a report filed by address gets lat/long when its place resolves ----------
    geocoder_file: Path | None = Field(None, description="The city's standard-address/POI file (CSV or GeoJSON)")
    geocoder_url: str = Field("https://restapi.amap.com/v3/geocode/geo",
                              description="Online geocoding API (AMap web-service shape); used only with a key")
    geocoder_key: str = Field("", description="Key of the online geocoding API; empty = off")
    geocoder_city: str = Field("", description="City sent to the online API when the place names none")
    geocoder_timeout_s: float = Field(3.0, description="Online geocoding timeout; a miss never blocks a filing")

    # -- NLU --------------------------------------------------------------------------------------------
    models_dir: Path = Field(ROOT / "models")
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout_s: float = Field(
        90.0, description="How long the bot waits for Rasa's answer to one message; longer than Rasa's conversation "
                          "lock lifetime (60 s), which a message resent after a killed replica may wait out")
    rasa_resend_s: float = Field(
        60.0, description="How long the bot keeps resending a message whose connection to Rasa failed or dropped "
                          "before the answer (another replica takes it) before asking the citizen to send it again")
    rasa_venv: Path = Field(ROOT / ".venv-rasa")
    actions_url: str = Field("http://127.0.0.1:5055",
                             description="The action server `citybot run` starts and points Rasa at")

    # -- citybot's own state (bot, notifier, hotline ingestion) ------------------------------------------
    database_url: str = Field("", description="citybot's own database; default sqlite:///<var_dir>/citybot.db")
    phone_hash_salt: str = Field(DEV_PHONE_SALT, description="Secret salt for hashing callers' phone numbers")
    hotline_quarantine_file: Path = Field(ROOT / "var" / "hotline" / "quarantine.jsonl")
    hotline_concurrency: int = Field(8, description="Calls filed to the hub at once during ingestion")
    hotline_nlu_workers: int = Field(1, ge=1, description="NLU worker processes (~1 GB each) classifying calls "
                                     "during ingestion; more only helps with cores to spare")

    # -- the job queue (citybot/jobs.py): pushes, staff alerts, filings ----------------------------------
    jobs_backoff_s: float = Field(2.0, description="First retry delay of a failed job; doubles per attempt")
    jobs_backoff_max_s: float = Field(300.0, description="Longest retry delay of a job")
    jobs_give_up_after_s: float = Field(
        48 * 3600.0, description="A job failing with temporary errors is tried this long, then dead (0 = never)")
    jobs_lease_s: float = Field(30.0, description="How long a worker holds a claimed job before others may take it "
                                                  "over (renewed while it works)")

    # -- Telegram bot and progress notifier ---------------------------------------------------------------
    telegram_bot_token: str = Field("", description="Bot API token from @BotFather; empty = the bot is off")
    telegram_api_base: str = Field("https://api.telegram.org", description="Bot API server base URL")
    notifier_poll_interval_s: float = Field(2.0, description="Seconds between polls of the hub's updates feed")
    notifier_batch: int = Field(200, description="Hub updates read per poll (the hub allows at most 1000)")
    notifier_global_rate: float = Field(25.0, description="Messages per second to all chats together (Telegram: 30)")
    notifier_chat_interval_s: float = Field(1.0, description="Minimum seconds between two messages to one chat")
    notifier_group_interval_s: float = Field(
        3.0, description="Minimum seconds between two messages to one group chat (staff chats; Telegram: ~20/min)")
    notifier_concurrency: int = Field(32, description="Bot API calls in flight at once")
    notifier_replicas: int = Field(
        1, ge=1, description="How many notifiers run against one bot token: each sends at global_rate/replicas, "
                             "so together they stay under Telegram's per-token limit")
    notifier_subscribe_grace_s: float = Field(
        3.0, description="Seconds an update waits before fan-out, so the filer's subscription is recorded first")
    notifier_upload_media: bool = Field(
        True, description="Fetch result photos from the hub and upload them (else pass the URLs to Telegram)")
    # the citizen bot (`citybot bot`): webhook mode when telegram_webhook_url is set, else long polling
    telegram_webhook_url: str = Field("", description="Public HTTPS URL Telegram posts updates to; empty = polling")
    telegram_webhook_secret: str = Field(
        "", description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; required in webhook mode")
    telegram_webhook_host: str = Field("0.0.0.0", description="Where the webhook server listens (webhook mode only)")
    telegram_webhook_port: int = Field(8080, description="Port of the webhook server")
    telegram_webhook_path: str = Field("/telegram/webhook", description="Path of the webhook endpoint")
    telegram_rate_limit_count: int = Field(20, description="Messages one citizen may send per window")
    telegram_rate_limit_window_s: float = Field(60.0, description="The per-citizen rate-limit window, in seconds")
    telegram_max_text_chars: int = Field(1000, description="Longest text (or photo caption) passed to the dialogue")
    telegram_album_wait_s: float = Field(1.0, description="Seconds of quiet that close a photo album (media group)")
    redis_url: str = Field("", description="Redis for aiogram's FSM storage (e.g. redis://redis:6379/0); empty = memory")

    # -- staff in Telegram (bot/staff) --------------------------------------------------------------------
    staff_chats: str = Field(
        "", description="Staff group chats by level, '市:-1001,区:-1002,街道:-1003' (level:chat id); overdue alerts "
                        "go there and staff commands work there (and in private chats) for staff users")
    staff_users: str = Field(
        "", description="Staff users seeded at bot start-up when not yet in the table, "
                        "'telegram_user_id:role:level:department:name,...' (department empty = all)")

    # -- terminal chat (`citybot chat`; what `citybot run` opens when there is no Telegram token) ---------
    terminal_chat: bool = Field(True, description="`citybot run` without a Telegram token opens the terminal chat")
    terminal_chat_id: int = Field(
        10000, description="The terminal chat's sender/chat id (its cases are filed as account tg:<id>)")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'citybot.db'}"

    @property
    def resolved_hub_database_url(self) -> str:
        return self.hub_database_url or f"sqlite:///{self.var_dir / 'hub.db'}"

    @property
    def resolved_hub_public_url(self) -> str:
        return (self.hub_public_url or f"http://{self.hub_host}:{self.hub_port}").rstrip("/")


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
