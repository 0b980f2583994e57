"""/dead and /resend for staff admins: the job queue's dead jobs (citybot/jobs.py) seen and re-sent from the staff
chat, as `citybot notifier --dead` / `--resend ID|all` do from a shell. Dead jobs are also announced in the staff
chat when they die (one alert per job), with the /resend line to use once the cause is fixed."""

from __future__ import annotations

import asyncio

from aiogram.filters import CommandObject
from aiogram.types import Message

from citybot.jobs import Jobs
from citybot.privacy import mask
from hubapi.roles import ROLE_LABELS, ROLES

ROLE = "admin"  # re-sending is an operator's decision about the system, not about a case
LIST_LIMIT = 20
KIND_LABELS = {"push": "推送", "alert": "督办提醒", "file": "案件提交", "merge": "合并跟进"}


def _allowed(staff) -> str | None:
    if ROLES.index(staff.role) < ROLES.index(ROLE):
        return f"只有{ROLE_LABELS[ROLE]}可以查看和重发失败的任务。"
    return None


async def cmd_dead(message: Message, staff, engine) -> None:
    refused = _allowed(staff)
    if refused:
        await message.answer(refused)
        return
    dead = await asyncio.to_thread(Jobs(engine).dead_jobs, LIST_LIMIT)
    if not dead:
        await message.answer("没有投递失败的任务。")
        return
    lines = [f"投递失败的任务（最近 {len(dead)} 个）："]
    for j in dead:
        lines.append(f"#{j.id} {KIND_LABELS.get(j.kind, j.kind)} {j.case_id or ''} 尝试{j.attempts}次："
                     f"{mask(j.last_error)[:80]}")
    lines.append("重发：/resend <编号> 或 /resend all")
    await message.answer("\n".join(lines)[:4096])


async def cmd_resend(message: Message, command: CommandObject, staff, engine) -> None:
    refused = _allowed(staff)
    if refused:
        await message.answer(refused)
        return
    which = (command.args or "").strip().lower()
    if which != "all" and not which.isdigit():
        await message.answer("用法：/resend <任务编号> 或 /resend all")
        return
    n = await asyncio.to_thread(Jobs(engine).resend, which)
    await message.answer(f"已重新排队 {n} 个任务。" if n else "没有这个失败任务（可能已重发）。")
