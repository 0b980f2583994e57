"""The citizen chat: private chats <-> the dialogue (Rasa's REST channel), with sender = the chat id.

- text -> Rasa as is;
- photos (the biggest size of each; an album is gathered for `telegram_album_wait_s` into ONE turn; image
  documents too) -> getFile + download -> the hub's media endpoint -> metadata {"photos": [url, ...]}, the
  caption as text;
- a shared location -> metadata {"location": {"lat", "long"}};
- a press on a button Rasa sent -> the button's payload as the text (callback data: bot/buttons.py); the
  callback query is always answered.

A turn without words (a photo without caption, a location) goes with an empty text: the dialogue decides what
it means (inside the report form: the photos are kept, the location answers "在哪里"; outside: both are kept
for the next report, actions/pending.py), the same for every channel.

Replies: text -> sendMessage, buttons -> an inline keyboard, an image -> sendPhoto (fetched from the hub and
uploaded: hub URLs are usually not reachable from Telegram). Rasa down -> "系统繁忙" and the citizen is asked
to send the message again (it is logged, masked). One chat's turns reach Rasa one at a time, in order.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import (BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message,
                           TelegramObject)

from bot import abuse, buttons, phone_link
from bot.rasa import RasaChannel, RasaUnavailable, Reply
from hubapi.client import HubClient, HubError, HubRejected

log = logging.getLogger("citybot.bot.citizen")

BUSY = "系统繁忙，请稍后再试。您刚才的消息没有处理成功，请过一会儿重新发送。"
PHOTO_FAILED = "照片上传失败，请稍后重新发送照片。"
EXPIRED_BUTTON = "这个按钮已失效，请直接发送文字。"
NOT_OWN_CONTACT = "请分享您本人的手机号码（用于查找您通过12345/12319热线反映的案件）。"
NO_HOTLINE_CASES = "没有找到用这个号码通过热线反映、仍在处理中的案件。如需反映新问题，请直接描述问题和位置。"
CAPTION_MAX, TEXT_MAX = 1024, 4096  # Telegram's limits for a caption and a message


def chat_ref(chat_id: int | str) -> str:
    """How a chat appears in logs: a short hash, not the id."""
    return "chat#" + hashlib.sha256(str(chat_id).encode()).hexdigest()[:10]


class PhotoTooBig(Exception):
    pass


@dataclass
class _Album:
    uploads: list[asyncio.Task] = field(default_factory=list)
    caption: str = ""
    last: float = 0.0


class Citizen:
    """The state of the citizen chat in one bot process (limits, albums, per-chat order, a carried location)."""

    def __init__(self, settings):
        self.max_text = settings.telegram_max_text_chars
        self.max_bytes = settings.media_max_bytes
        self.album_wait = settings.telegram_album_wait_s
        self.limit = abuse.ChatRateLimit(settings.telegram_rate_limit_count, settings.telegram_rate_limit_window_s)
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._albums: dict[tuple[int, str], _Album] = {}
        self._seen_albums: dict[tuple[int, str], float] = {}

    # -- limits (an outer middleware: before any handler) -----------------------------------------------------------
    def admit(self, message: Message) -> str:
        if message.media_group_id:  # an album is one message to the citizen: count it once
            key, now = (message.chat.id, message.media_group_id), time.monotonic()
            if len(self._seen_albums) > 10000:
                self._seen_albums = {k: t for k, t in self._seen_albums.items() if t > now - 600}
            if key in self._seen_albums:
                return abuse.OK
            self._seen_albums[key] = now
        return self.limit.check(message.chat.id)

    # -- turns ---------------------------------------------------------------------------------------------------------
    @asynccontextmanager
    async def _turn(self, chat_id: int):
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = self._locks[chat_id] = asyncio.Lock()
        async with lock:
            yield

    async def converse(self, bot: Bot, rasa: RasaChannel, hub: HubClient, engine, chat_id: int, text: str,
                       metadata: dict | None = None) -> None:
        """One turn: Rasa, then its replies."""
        metadata = dict(metadata or {})
        async with self._turn(chat_id):
            try:
                async with _typing(bot, chat_id):
                    replies = await rasa.send(chat_id, text, metadata)
            except RasaUnavailable as exc:
                log.warning("dialogue unavailable, %s asked to resend (%s, %d chars, metadata %s): %s",
                            chat_ref(chat_id), "text" if text else "no text", len(text), sorted(metadata), exc)
                await self.say(bot, chat_id, BUSY)
                return
            await self.deliver(bot, hub, engine, chat_id, replies)

    # -- replies -------------------------------------------------------------------------------------------------------
    async def say(self, bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> bool:
        """Send one text (split at Telegram's limit); False when the chat cannot be reached."""
        chunks = [text[i:i + TEXT_MAX] for i in range(0, len(text), TEXT_MAX)] or [""]
        try:
            for i, chunk in enumerate(chunks):
                await bot.send_message(chat_id, chunk, reply_markup=markup if i == len(chunks) - 1 else None)
        except TelegramForbiddenError:
            log.info("%s blocked the bot; reply dropped", chat_ref(chat_id))
            return False
        except TelegramAPIError as exc:
            log.warning("reply to %s failed: %s", chat_ref(chat_id), exc)
        return True

    async def deliver(self, bot: Bot, hub: HubClient, engine, chat_id: int, replies: list[Reply]) -> None:
        for reply in replies:
            markup = await self._keyboard(engine, reply.buttons)
            if reply.image:
                photo = await self._fetch(hub, reply.image)
                if photo is not None:
                    caption = reply.text if len(reply.text) <= CAPTION_MAX else None
                    if reply.text and caption is None and not await self.say(bot, chat_id, reply.text):
                        return
                    try:
                        await bot.send_photo(chat_id, photo, caption=caption or None, reply_markup=markup)
                        continue
                    except TelegramForbiddenError:
                        log.info("%s blocked the bot; reply dropped", chat_ref(chat_id))
                        return
                    except TelegramAPIError as exc:
                        log.warning("photo to %s failed: %s", chat_ref(chat_id), exc)
                        continue
            text = reply.text or ("请选择：" if markup else "")
            if text and not await self.say(bot, chat_id, text, markup):
                return

    @staticmethod
    async def _keyboard(engine, pairs) -> InlineKeyboardMarkup | None:
        if not pairs:
            return None
        data = await asyncio.to_thread(buttons.encode, engine, [payload for _, payload in pairs])
        return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=title[:64] or "…", callback_data=d)]
                                                     for (title, _), d in zip(pairs, data)])

    @staticmethod
    async def _fetch(hub: HubClient, url: str) -> BufferedInputFile | None:
        """An image Rasa sent (a hub media URL), fetched here and uploaded; None when unreachable."""
        try:
            data = await hub.fetch_media(url)
        except HubError as exc:  # the text goes alone
            log.warning("image %s not fetched: %s", url, exc)
            return None
        return BufferedInputFile(data, filename=PurePosixPath(urlparse(url).path).name or "photo.jpg")

    # -- a shared phone number: follow the hotline's cases for it (bot/phone_link.py) ------------------------------
    async def contact_turn(self, bot: Bot, hub: HubClient, engine, message: Message, salt: str) -> None:
        chat_id, contact = message.chat.id, message.contact
        if message.from_user is None or contact.user_id != message.from_user.id:
            await self.say(bot, chat_id, NOT_OWN_CONTACT)
            return
        try:
            cases = await phone_link.follow_hotline_cases(hub, engine, chat_id, contact.phone_number, salt)
        except HubError as exc:
            log.warning("hotline cases for %s not looked up: %s", chat_ref(chat_id), exc)
            await self.say(bot, chat_id, BUSY)
            return
        if not cases:
            await self.say(bot, chat_id, NO_HOTLINE_CASES)
            return
        lines = [f"{c.service_request_id} {c.service_name or c.service_code or ''}" for c in cases[:10]]
        await self.say(bot, chat_id, f"找到您通过热线反映的{len(cases)}件案件，之后的处理进展会在这里通知您：\n"
                                     + "\n".join(lines))

    # -- photos ---------------------------------------------------------------------------------------------------------
    async def upload(self, bot: Bot, hub: HubClient, file_id: str, size: int | None, filename: str,
                     content_type: str) -> str:
        if size and size > self.max_bytes:
            raise PhotoTooBig
        buf = await bot.download(file_id)
        data = buf.read() if buf is not None else b""
        if len(data) > self.max_bytes:
            raise PhotoTooBig
        return await hub.upload_media(data, filename=filename, content_type=content_type)

    async def photo_turn(self, bot: Bot, hub: HubClient, rasa: RasaChannel, engine, message: Message,
                         upload: asyncio.Task) -> None:
        chat_id, caption = message.chat.id, (message.caption or "").strip()
        if message.media_group_id:
            key = (chat_id, message.media_group_id)
            album = self._albums.get(key)
            first = album is None
            if first:
                album = self._albums[key] = _Album()
            album.uploads.append(upload)
            album.caption = album.caption or caption
            album.last = time.monotonic()
            if not first:
                return  # the first photo's handler sends the whole album
            while (wait := album.last + self.album_wait - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            del self._albums[key]
            uploads, caption = album.uploads, album.caption
        else:
            uploads = [upload]
        if len(caption) > self.max_text:
            for t in uploads:
                t.cancel()
            await self.say(bot, chat_id, abuse.TOO_LONG.format(limit=self.max_text))
            return
        results = await asyncio.gather(*uploads, return_exceptions=True)
        urls = [r for r in results if isinstance(r, str)]
        if any(isinstance(r, PhotoTooBig) for r in results):
            await self.say(bot, chat_id, abuse.PHOTO_TOO_BIG.format(mb=max(1, self.max_bytes // (1024 * 1024))))
        elif len(urls) < len(results):
            for r in results:
                if isinstance(r, BaseException):
                    log.warning("photo from %s not stored: %s: %s", chat_ref(chat_id), type(r).__name__, r)
            rejected = next((r for r in results if isinstance(r, HubRejected)), None)
            await self.say(bot, chat_id, f"照片未能保存：{rejected.description}" if rejected else PHOTO_FAILED)
        if not urls and not caption:
            return
        await self.converse(bot, rasa, hub, engine, chat_id, caption, {"photos": urls} if urls else None)


@asynccontextmanager
async def _typing(bot: Bot, chat_id: int, after: float = 1.0, every: float = 4.5):
    """Show "typing…" while the dialogue takes longer than `after` seconds (best effort)."""
    async def show():
        await asyncio.sleep(after)
        while True:
            try:
                await bot.send_chat_action(chat_id, "typing")
            except Exception:  # noqa: BLE001 - cosmetic only
                pass
            await asyncio.sleep(every)

    task = asyncio.create_task(show())
    try:
        yield
    finally:
        task.cancel()


class _Gate(BaseMiddleware):
    """Per-citizen rate limit in front of every handler of the citizen router."""

    def __init__(self, citizen: Citizen):
        self.citizen = citizen

    async def __call__(self, handler, event: TelegramObject, data: dict[str, Any]):
        if isinstance(event, Message):
            verdict, chat_id = self.citizen.admit(event), event.chat.id
        elif isinstance(event, CallbackQuery) and event.message is not None:
            verdict, chat_id = self.citizen.limit.check(event.message.chat.id), event.message.chat.id
        else:
            return await handler(event, data)
        if verdict == abuse.OK:
            return await handler(event, data)
        log.info("%s over the rate limit (%s)", chat_ref(chat_id), verdict)
        if isinstance(event, CallbackQuery):
            await _answer(event, abuse.TOO_FAST if verdict == abuse.WARN else None)
        elif verdict == abuse.WARN:
            await self.citizen.say(data["bot"], chat_id, abuse.TOO_FAST)
        return None


async def _answer(query: CallbackQuery, text: str | None = None) -> None:
    try:
        await query.answer(text)
    except TelegramAPIError as exc:  # too late (answer within ~15 s) or gone: nothing to do
        log.info("callback query not answered: %s", exc)


def make_router(settings) -> Router:
    """The citizen chat Router; the Dispatcher must carry `rasa`, `hub` and `engine`."""
    citizen = Citizen(settings)
    router = Router(name="citizen")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private",
                                 F.data.startswith(buttons.INLINE) | F.data.startswith(buttons.KEYED))
    gate = _Gate(citizen)
    router.message.outer_middleware(gate)
    router.callback_query.outer_middleware(gate)
    router.citizen = citizen  # for tests and the app

    @router.message(F.photo)
    async def on_photo(message: Message, bot: Bot, hub: HubClient, rasa: RasaChannel, engine) -> None:
        best = max(message.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
        upload = asyncio.create_task(citizen.upload(bot, hub, best.file_id, best.file_size,
                                                    f"{best.file_unique_id}.jpg", "image/jpeg"))
        await citizen.photo_turn(bot, hub, rasa, engine, message, upload)

    @router.message(F.document.mime_type.startswith("image/"))
    async def on_image_file(message: Message, bot: Bot, hub: HubClient, rasa: RasaChannel, engine) -> None:
        doc = message.document
        suffix = PurePosixPath(doc.file_name or "").suffix or "." + doc.mime_type.split("/", 1)[1]
        upload = asyncio.create_task(citizen.upload(bot, hub, doc.file_id, doc.file_size,
                                                    f"{doc.file_unique_id}{suffix}", doc.mime_type))
        await citizen.photo_turn(bot, hub, rasa, engine, message, upload)

    @router.message(F.location)
    async def on_location(message: Message, bot: Bot, rasa: RasaChannel, hub: HubClient, engine) -> None:
        loc = {"lat": message.location.latitude, "long": message.location.longitude}
        await citizen.converse(bot, rasa, hub, engine, message.chat.id, "", {"location": loc})

    @router.message(F.text)
    async def on_text(message: Message, bot: Bot, rasa: RasaChannel, hub: HubClient, engine) -> None:
        text = message.text.strip()
        if text.split(maxsplit=1)[0].split("@")[0] == "/start" if text else False:
            text = "你好"  # Telegram's first message (and deep links): a greeting, not an intent Rasa knows
        if len(text) > citizen.max_text:
            await citizen.say(bot, message.chat.id, abuse.TOO_LONG.format(limit=citizen.max_text))
            return
        if text:
            await citizen.converse(bot, rasa, hub, engine, message.chat.id, text)

    @router.message(F.contact)
    async def on_contact(message: Message, bot: Bot, hub: HubClient, engine, settings) -> None:
        await citizen.contact_turn(bot, hub, engine, message, settings.phone_hash_salt)

    @router.message()
    async def on_other(message: Message, bot: Bot) -> None:
        await citizen.say(bot, message.chat.id, abuse.UNSUPPORTED)

    @router.callback_query()
    async def on_button(query: CallbackQuery, bot: Bot, rasa: RasaChannel, hub: HubClient, engine) -> None:
        payload = await asyncio.to_thread(buttons.decode, engine, query.data or "")
        if payload is None:
            await _answer(query, EXPIRED_BUTTON)
            return
        await _answer(query)  # at once: Telegram shows a spinner until the query is answered
        chat_id = query.message.chat.id
        try:  # a question's buttons are used once
            await bot.edit_message_reply_markup(chat_id=chat_id, message_id=query.message.message_id,
                                                reply_markup=None)
        except TelegramAPIError:
            pass
        await citizen.converse(bot, rasa, hub, engine, chat_id, payload)

    return router
