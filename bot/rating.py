"""The rating buttons under a closed case's message (callback data rate:<case_id>:<1-5>) -> the hub's rate.

One Router for this concern; the composing app passes `hub` (a HubClient) to the Dispatcher, and may pass
`account_id_for` (Telegram user id -> the hub account_id the case was filed with; default hubapi.accounts.chat_account,
which is what the dialogue actions file with).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import F, Router
from aiogram.types import CallbackQuery

from bot.messages import RATE_PREFIX, parse_rating
from hubapi.accounts import chat_account
from hubapi.client import Conflict, Forbidden, HubClient, HubError

log = logging.getLogger("citybot.bot.rating")
async def on_rating(query: CallbackQuery, hub: HubClient,
                    account_id_for: Callable[[int], str] = chat_account) -> None:
    parsed = parse_rating(query.data or "")
    if parsed is None:
        await query.answer("这个评分按钮无效。", show_alert=True)
        return
    case_id, stars = parsed
    try:
        await hub.rate(case_id, stars, account_id=account_id_for(query.from_user.id))
    except Forbidden:
        await query.answer("只有反映该问题的市民可以评价。", show_alert=True)
        return
    except Conflict:
        await query.answer("该案件已评价过，或目前还不能评价。", show_alert=True)
        return
    except HubError as exc:
        log.warning("rating %s failed: %s", case_id, exc)
        await query.answer("系统繁忙，请稍后再点一次。", show_alert=True)
        return
    await query.answer(f"感谢您的评价：{stars}分！")
    if query.message is not None:  # the buttons go away once used
        await query.message.edit_reply_markup(reply_markup=None)


def make_router() -> Router:
    """A fresh Router per Dispatcher (aiogram lets a Router join only one)."""
    router = Router(name="rating")
    router.callback_query.register(on_rating, F.data.startswith(f"{RATE_PREFIX}:"))
    return router
