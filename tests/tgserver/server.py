"""A Telegram Bot API server on loopback, for tests and benchmarks.

It speaks the real Bot API HTTP protocol (`/bot<token>/<method>`, JSON, urlencoded or multipart bodies,
`{"ok": true, "result": ...}` answers, 429 with `parameters.retry_after`, 403 for blocked chats), so aiogram
talks to it unchanged through `TelegramAPIServer.from_base(server.base_url)`. Tests inject updates (text,
photo, location, callback query), mark chats blocked, make the next N calls answer 429, and assert on
`server.requests`, the record of every call (method, chat_id, payload, files, monotonic time).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 7000000001


@dataclass
class Recorded:
    method: str
    chat_id: str | None
    payload: dict[str, Any]
    files: dict[str, bytes]
    at: float  # time.monotonic() when the request arrived
    status: int = 200  # what the server answered


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


@dataclass
class BotAPIServer:
    """Start with `await server.start()` (or `async with BotAPIServer() as server`)."""

    token: str = "123456:TEST-token"
    latency: float = 0.0  # seconds each send* call takes, to imitate a remote server
    requests: list[Recorded] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._files: dict[str, StoredFile] = {}
        self._fail_429: list[int] = []  # retry_after for each of the next calls to fail
        self._fail_429_by_method: dict[str, list[int]] = {}  # the same, for calls of one method
        self._fail_status: list[tuple[int, str]] = []
        self._outage_until = 0.0  # monotonic time until which every send answers 502 (a proxy without Telegram)
        self._after_outage_429: list[int] = []  # retry_after of the 429s that follow the outage
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        return app

    async def start(self) -> BotAPIServer:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._closing = True  # end pending long polls now, or the shutdown waits them out
        self._new_update.set()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIServer:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- test controls ------------------------------------------------------------------------------------------
    def block(self, chat_id: int | str) -> None:
        """Answer every call to this chat with 403 bot was blocked by the user."""
        self.blocked.add(str(chat_id))

    def fail_next(self, n: int, retry_after: int = 1, method: str | None = None) -> None:
        """Answer the next `n` calls (of any method but getUpdates, or only of `method`) with 429 Too Many Requests."""
        if method is not None:
            self._fail_429_by_method.setdefault(method, []).extend([retry_after] * n)
            return
        self._fail_429.extend([retry_after] * n)

    def outage(self, seconds: float, *, then_429: int = 0, retry_after: int = 1) -> None:
        """For `seconds` from now every send* call answers 502 Bad Gateway with an HTML body (as a proxy does when
        Telegram is away), then the next `then_429` send calls answer 429 retry_after."""
        self._outage_until = time.monotonic() + seconds
        self._after_outage_429 = [retry_after] * then_429

    def error_next(self, n: int, status: int = 500, description: str = "Internal Server Error") -> None:
        self._fail_status.extend([(status, description)] * n)

    def sent(self, *methods: str, chat_id: int | str | None = None) -> list[Recorded]:
        """Successful calls of `methods` (default: every send*), optionally to one chat."""
        return [r for r in self.requests if r.status == 200
                and (r.method in methods if methods else r.method.startswith("send"))
                and (chat_id is None or r.chat_id == str(chat_id))]

    def add_file(self, data: bytes, suffix: str = "jpg") -> StoredFile:
        digest = hashlib.sha256(data).hexdigest()
        f = StoredFile(f"F{digest[:24]}", f"U{digest[:12]}", f"photos/{digest[:16]}.{suffix}", data)
        self._files[f.file_id] = f
        return f

    def _chat(self, chat_id: int) -> dict:
        chat_type = self.__dict__.get("_chat_types", {}).get(int(chat_id), "private")
        if chat_type != "private":  # a group chat set up by `chat_type=` on an add_* call
            return {"id": chat_id, "type": chat_type, "title": f"群 {chat_id}"}
        return {"id": chat_id, "type": "private", "first_name": "市民"}

    def _in_chat(self, chat_id: int, chat_type: str | None) -> None:
        """Remember a chat's type ("private", "group", "supergroup"); the default is private."""
        if chat_type:
            self.__dict__.setdefault("_chat_types", {})[int(chat_id)] = chat_type

    def _user(self, chat_id: int) -> dict:
        return {"id": chat_id, "is_bot": False, "first_name": "市民", "language_code": "zh-hans"}

    def _message(self, chat_id: int, *, from_id: int | None = None, **content) -> dict:
        """`from_id`: the sender when it is not the chat itself (a member of a group chat)."""
        return {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self._chat(chat_id),
                "from": self._user(from_id if from_id is not None else chat_id), **content}

    def _push(self, update: dict) -> dict:
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._new_update.set()
        return update

    def add_text(self, chat_id: int, text: str, *, from_id: int | None = None, chat_type: str | None = None) -> dict:
        self._in_chat(chat_id, chat_type)
        return self._push({"message": self._message(chat_id, text=text, from_id=from_id)})

    def add_photo(self, chat_id: int, data: bytes, caption: str | None = None,
                  media_group_id: str | None = None, *, from_id: int | None = None,
                  chat_type: str | None = None) -> dict:
        self._in_chat(chat_id, chat_type)
        f = self.add_file(data)
        photo = [{"file_id": f.file_id, "file_unique_id": f.file_unique_id, "width": 640, "height": 480,
                  "file_size": len(data)}]
        extra = {"caption": caption} if caption else {}
        if media_group_id:  # one photo of an album: Telegram sends each as its own update
            extra["media_group_id"] = media_group_id
        return self._push({"message": self._message(chat_id, photo=photo, from_id=from_id, **extra)})

    def add_contact(self, chat_id: int, phone_number: str, user_id: int | None = None, first_name: str = "市民") -> dict:
        """A shared contact; `user_id` = whose number it is (the sender's own by default)."""
        contact = {"phone_number": phone_number, "first_name": first_name,
                   "user_id": chat_id if user_id is None else user_id}
        return self._push({"message": self._message(chat_id, contact=contact)})

    def add_location(self, chat_id: int, latitude: float, longitude: float) -> dict:
        return self._push({"message": self._message(chat_id, location={"latitude": latitude, "longitude": longitude})})

    def add_callback(self, chat_id: int, data: str, message_id: int = 1, *, from_id: int | None = None,
                     chat_type: str | None = None) -> dict:
        self._in_chat(chat_id, chat_type)
        message = {"message_id": message_id, "date": int(time.time()), "chat": self._chat(chat_id),
                   "from": {"id": BOT_ID, "is_bot": True, "first_name": "citybot"}, "text": "…"}
        sender = self._user(from_id if from_id is not None else chat_id)
        return self._push({"callback_query": {"id": f"cb{next(self._message_ids)}", "from": sender,
                                              "chat_instance": str(chat_id), "message": message, "data": data}})

    # -- protocol --------------------------------------------------------------------------------------------------
    async def _payload(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        payload: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        ctype = request.content_type
        if request.method == "POST" and request.can_read_body:
            if ctype == "application/json":
                payload.update(await request.json())
            elif ctype.startswith("multipart/"):
                reader = await request.multipart()
                async for part in reader:
                    if part.filename is not None:
                        files[part.name] = await part.read()
                    else:
                        payload[part.name] = _value(await part.text())
            else:
                payload.update({k: _value(v) for k, v in (await request.post()).items()})
        return payload, files

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            payload, files = await self._payload(request)
        except (ValueError, json.JSONDecodeError) as exc:
            return _error(400, f"Bad Request: can't parse request body: {exc}")
        chat_id = str(payload["chat_id"]) if payload.get("chat_id") is not None else None
        rec = Recorded(method, chat_id, payload, files, time.monotonic())
        self.requests.append(rec)
        if request.match_info["token"] != self.token:
            rec.status = 401
            return _error(401, "Unauthorized")
        if method.startswith("send") and (self._outage_until or self._after_outage_429):
            if time.monotonic() < self._outage_until:
                rec.status = 502
                return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>",
                                    content_type="text/html")
            if self._after_outage_429:
                rec.status = 429
                n = self._after_outage_429.pop(0)
                return _error(429, f"Too Many Requests: retry after {n}", {"retry_after": n})
        if method != "getUpdates":
            if self._fail_429_by_method.get(method):
                rec.status = 429
                n = self._fail_429_by_method[method].pop(0)
                return _error(429, f"Too Many Requests: retry after {n}", {"retry_after": n})
            if self._fail_429:
                rec.status = 429
                n = self._fail_429.pop(0)
                return _error(429, f"Too Many Requests: retry after {n}", {"retry_after": n})
            if self._fail_status:
                rec.status, description = self._fail_status.pop(0)
                return _error(rec.status, description)
            if chat_id in self.blocked:
                rec.status = 403
                return _error(403, "Forbidden: bot was blocked by the user")
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            rec.status = 404
            return _error(404, "Not Found: method not found")
        if self.latency and method.startswith("send"):
            await asyncio.sleep(self.latency)
        try:
            result = await handler(payload, files)
        except _BadRequest as exc:
            rec.status = 400
            return _error(400, f"Bad Request: {exc}")
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for f in self._files.values():
            if f.file_path == path:
                return web.Response(body=f.data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    # -- methods --------------------------------------------------------------------------------------------------
    async def _m_getMe(self, p, files):
        return {"id": BOT_ID, "is_bot": True, "first_name": "citybot", "username": "citybot_test_bot",
                "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _m_getUpdates(self, p, files):
        offset, timeout = int(p.get("offset") or 0), float(p.get("timeout") or 0)
        limit = max(1, min(100, int(p.get("limit") or 100)))
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self._updates and time.monotonic() < deadline and not getattr(self, "_closing", False):
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
        return self._updates[:limit]

    def _chat_id(self, p) -> int:
        try:
            return int(p["chat_id"])
        except (KeyError, TypeError, ValueError):
            raise _BadRequest("chat not found") from None

    async def _m_sendMessage(self, p, files):
        if not p.get("text"):
            raise _BadRequest("message text is empty")
        extra = {"reply_markup": p["reply_markup"]} if p.get("reply_markup") else {}
        return self._bot_message(self._chat_id(p), text=p["text"], **extra)

    def _photo(self, ref: Any, files: dict[str, bytes]) -> list[dict]:
        if isinstance(ref, str) and ref.startswith("attach://"):
            data = files.get(ref[len("attach://"):])
            if data is None:
                raise _BadRequest(f"file {ref} is not attached")
            f = self.add_file(data)
        elif isinstance(ref, str) and ref in self._files:
            f = self._files[ref]
        elif isinstance(ref, str) and ref.startswith(("http://", "https://")):
            f = self.add_file(ref.encode())  # a URL: Telegram would fetch it; the URL stands in for the bytes
        else:
            raise _BadRequest("wrong file identifier/HTTP URL specified")
        return [{"file_id": f.file_id, "file_unique_id": f.file_unique_id, "width": 640, "height": 480}]

    async def _m_sendPhoto(self, p, files):
        ref = p.get("photo")
        if ref is None and "photo" in files:
            ref = "attach://photo"
        photo = self._photo(ref, files)
        extra = {k: p[k] for k in ("caption", "reply_markup") if p.get(k)}
        return self._bot_message(self._chat_id(p), photo=photo, **extra)

    async def _m_sendMediaGroup(self, p, files):
        media = p.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _BadRequest("media must be a list of 2-10 items")
        chat_id, out = self._chat_id(p), []
        for item in media:
            extra = {"caption": item["caption"]} if item.get("caption") else {}
            out.append(self._bot_message(chat_id, photo=self._photo(item.get("media"), files),
                                         media_group_id="g1", **extra))
        return out

    async def _m_getFile(self, p, files):
        f = self._files.get(str(p.get("file_id")))
        if f is None:
            raise _BadRequest("invalid file_id")
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": len(f.data),
                "file_path": f.file_path}

    async def _m_answerCallbackQuery(self, p, files):
        return True

    async def _m_editMessageReplyMarkup(self, p, files):
        return self._bot_message(self._chat_id(p), text="…", **({"reply_markup": p["reply_markup"]}
                                                                 if p.get("reply_markup") else {}))

    async def _m_editMessageText(self, p, files):
        if not p.get("text"):
            raise _BadRequest("message text is empty")
        return self._bot_message(self._chat_id(p), text=p["text"])

    async def _m_setWebhook(self, p, files):
        return True

    async def _m_deleteWebhook(self, p, files):
        return True

    def _bot_message(self, chat_id: int, **content) -> dict:
        return {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self._chat(chat_id),
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "citybot"}, **content}


class _BadRequest(Exception):
    pass


def _value(text: str) -> Any:
    """Form fields carry JSON for objects and arrays (reply_markup, media), as aiogram and the Bot API do."""
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _error(code: int, description: str, parameters: dict | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
