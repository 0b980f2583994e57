"""/resolve <id> with the result photos the citizen receives (staff commands, bot/staff/commands.py).

The photos come with the command (a captioned photo or album: done `ALBUM_QUIET_S` after the last one) or after a
bare "/resolve <id>" (done on /done, or `PHOTO_QUIET_S` after the last one; with no photo within
`RESOLVE_WINDOW_S` the collection is dropped). The collection is aiogram FSM state (the Dispatcher's storage);
its timers and album bookkeeping live in this process. At the end the photos are fetched from Telegram,
uploaded to the hub's media endpoint and the case is resolved with them, with the staff member as `actor`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, F, Router
from aiogram.filters import BaseFilter, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from bot.staff import views
from bot.staff.access import StaffMember
from bot.staff.commands import (USAGE, StaffError, _cmd, _guarded, _reply, case_for, hub_error_text, parse_case_id,
                                require_transition, split_args)
from hubapi import states as lc
from hubapi.client import HubClient, HubError

log = logging.getLogger("citybot.bot.staff.resolve")

ALBUM_QUIET_S = 2.0
PHOTO_QUIET_S = 60.0
RESOLVE_WINDOW_S = 300.0


class Resolve(StatesGroup):
    collecting = State()


# -- the collection -----------------------------------------------------------------------------------------
class _Collection:
    """In-process bookkeeping of one photo collection: its timer, its album and a lock for its FSM data."""

    def __init__(self):
        self.lock = asyncio.Lock()
        self.timer: asyncio.Task | None = None
        self.album: str | None = None


_collections: dict[tuple[int, int], _Collection] = {}
_albums: dict[tuple[int, str], list[str]] = {}  # (chat id, media_group_id) -> file ids of a /resolve album


def _key(message: Message) -> tuple[int, int]:
    return (message.chat.id, message.from_user.id if message.from_user else 0)


def _collection(key: tuple[int, int]) -> _Collection:
    return _collections.setdefault(key, _Collection())


def _photo_id(message: Message) -> str:
    return message.photo[-1].file_id  # the largest size


class _AlbumPart(BaseFilter):
    """A photo of an album whose first photo carried "/resolve <id>". Album parts can be handled before the
    captioned one (updates run concurrently), so an unknown album is looked at again after a moment."""

    async def __call__(self, message: Message) -> bool:
        if not message.photo or not message.media_group_id or message.caption:
            return False
        key = (message.chat.id, message.media_group_id)
        if key not in _albums:
            await asyncio.sleep(0.3)
        return key in _albums


def _schedule(key, delay: float, finish: Callable[[], Awaitable[None]]) -> None:
    coll = _collection(key)
    if coll.timer is not None and not coll.timer.done():
        coll.timer.cancel()

    async def later():
        await asyncio.sleep(delay)
        await finish()

    coll.timer = asyncio.create_task(later())


def _finisher(message: Message, bot: Bot, state: FSMContext, staff: StaffMember, hub: HubClient, settings,
              *, expired_text: str | None = None) -> Callable[[], Awaitable[None]]:
    key, chat_id = _key(message), message.chat.id

    async def finish() -> None:
        text = await finish_resolve(key, bot, state, staff, hub, expired_text=expired_text)
        if text:
            await bot.send_message(chat_id, text[:views.TEXT_MAX])
    return finish


async def finish_resolve(key, bot: Bot, state: FSMContext, staff: StaffMember, hub: HubClient, *,
                         expired_text: str | None = None) -> str | None:
    """End the collection: download the photos, upload them to the hub, resolve. The reply text, or None when
    there was nothing to finish (already finished)."""
    coll = _collection(key)
    async with coll.lock:
        if await state.get_state() != Resolve.collecting.state:
            return None
        data = await state.get_data()
        await state.clear()
        photos = list(data.get("photos") or [])
        if coll.album:
            photos += _albums.pop((key[0], coll.album), [])
        if coll.timer is not None and coll.timer is not asyncio.current_task() and not coll.timer.done():
            coll.timer.cancel()
        _collections.pop(key, None)
    case_id, note = data.get("case_id", ""), data.get("note", "")
    photos = list(dict.fromkeys(photos))
    if not photos:
        return expired_text or f"⚠️ 没有收到照片，案件 {case_id} 未处理反馈。请重新发送 /resolve {case_id} 并附上处理结果照片。"
    try:
        urls = []
        for file_id in photos:
            file = await bot.get_file(file_id)
            buf = await bot.download_file(file.file_path)
            urls.append(await hub.upload_media(buf.getvalue(), "photo.jpg", "image/jpeg"))
        await hub.resolve(case_id, note=note, media_urls=urls, actor=staff.actor)
    except HubError as exc:
        log.warning("resolve %s failed: %s", case_id, exc)
        return f"⚠️ 案件 {case_id} 未能处理反馈：{hub_error_text(exc, case_id)}"
    except Exception as exc:  # noqa: BLE001 - a Telegram download failure; tell the staff member, lose nothing
        log.warning("resolve %s: fetching photos failed: %s", case_id, type(exc).__name__)
        return f"⚠️ 无法获取照片，案件 {case_id} 未处理反馈，请重新发送。"
    return f"✅ 案件 {case_id} 已处理反馈（处理结果照片{len(urls)}张），市民将收到处理结果。"


async def cmd_resolve(message: Message, command: CommandObject, staff: StaffMember, hub: HubClient, bot: Bot,
                      state: FSMContext, settings=None) -> None:
    raw_id, note = split_args(command, 2)
    key = _key(message)
    with_photo = bool(message.photo)
    if with_photo and message.media_group_id:  # register the album at once: its other photos may be in flight
        _albums[(message.chat.id, message.media_group_id)] = []
    try:
        case_id = parse_case_id(raw_id, USAGE["resolve"])
        if await state.get_state() == Resolve.collecting.state:
            data = await state.get_data()
            raise StaffError(f"正在收集案件 {data.get('case_id')} 的处理照片：请先发送 /done 完成或 /cancel 取消。")
        case = await case_for(hub, case_id, staff, "resolve")
        require_transition(case, lc.RESOLVED, "处理反馈")
    except StaffError:
        if with_photo and message.media_group_id:
            _albums.pop((message.chat.id, message.media_group_id), None)
        raise
    coll = _collection(key)
    async with coll.lock:
        await state.set_state(Resolve.collecting)
        await state.set_data({"case_id": case_id, "note": note[:2000],
                              "photos": [_photo_id(message)] if with_photo else []})
        coll.album = message.media_group_id if with_photo else None
    if with_photo:
        _schedule(key, ALBUM_QUIET_S, _finisher(message, bot, state, staff, hub, settings))
        return
    _schedule(key, RESOLVE_WINDOW_S, _finisher(message, bot, state, staff, hub, settings))
    await _reply(message, f"请在{int(RESOLVE_WINDOW_S // 60)}分钟内发送案件 {case_id} 的处理结果照片（可多张），"
                          "发完后发送 /done；发送 /cancel 取消。")


async def on_album_part(message: Message, bot: Bot, state: FSMContext, staff: StaffMember, hub: HubClient,
                        settings=None) -> None:
    parts = _albums.get((message.chat.id, message.media_group_id))
    if parts is None:
        return
    parts.append(_photo_id(message))
    _schedule(_key(message), ALBUM_QUIET_S, _finisher(message, bot, state, staff, hub, settings))


async def on_collect_photo(message: Message, bot: Bot, state: FSMContext, staff: StaffMember, hub: HubClient,
                           settings=None) -> None:
    key = _key(message)
    coll = _collection(key)
    async with coll.lock:
        data = await state.get_data()
        photos = list(data.get("photos") or []) + [_photo_id(message)]
        if len(photos) > 20:
            await _reply(message, "最多20张照片；请发送 /done 提交已收到的照片。")
            return
        await state.update_data(photos=photos)
    _schedule(key, PHOTO_QUIET_S, _finisher(message, bot, state, staff, hub, settings))


async def cmd_done(message: Message, bot: Bot, state: FSMContext, staff: StaffMember, hub: HubClient) -> None:
    text = await finish_resolve(_key(message), bot, state, staff, hub)
    if text:
        await _reply(message, text)


async def cmd_done_idle(message: Message) -> None:
    await _reply(message, "当前没有待提交的处理照片。用法：" + USAGE["resolve"])


async def cmd_cancel_collect(message: Message, state: FSMContext) -> None:
    key = _key(message)
    coll = _collection(key)
    async with coll.lock:
        data = await state.get_data()
        await state.clear()
        if coll.timer is not None and not coll.timer.done():
            coll.timer.cancel()
        if coll.album:
            _albums.pop((key[0], coll.album), None)
        _collections.pop(key, None)
    await _reply(message, f"已取消案件 {data.get('case_id')} 的处理反馈，未做任何更改。")


def register(router: Router) -> None:
    """The /resolve handlers, in the order they must be tried (before the other staff commands)."""
    m = router.message.register
    m(_guarded(cmd_resolve), _cmd("resolve"))
    m(on_album_part, _AlbumPart())
    m(on_collect_photo, Resolve.collecting, F.photo)
    m(_guarded(cmd_done), Resolve.collecting, _cmd("done"))
    m(cmd_cancel_collect, Resolve.collecting, _cmd("cancel"))
    m(cmd_done_idle, _cmd("done"))
