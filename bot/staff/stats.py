"""/stats [today|week|month] for staff: the hub's figures as a Chinese summary plus a bar chart (PNG).

Figures come from the hub's staff API (GET /staff/v1/stats via HubClient.stats), asked as the staff member
(the bot acts for them): the hub counts only the cases they may read (市: everything); the member's level and
department are passed as the scope too, so the summary says which scope it is.

Periods are calendar periods in the city's time zone: today = since 00:00, week = since Monday 00:00,
month = since the 1st 00:00 (cases FILED in the period; "overdue" is how many of them are overdue now).

The chart is drawn with matplotlib's Agg canvas (no display, no pyplot global state) in a worker thread.
Chinese labels need a CJK font: Noto Sans CJK SC comes with the project (the noto-cjk-sans-otc package, pinned
in requirements/app.lock, so it is in the image too). Should no CJK font be found, the chart uses the 大类 codes
from the catalogue (SRHJ, JMZX, …) and English axis words, and the caption says which code is which.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import io
import logging
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.staff.access import StaffFilter
from citybot import catalogue as catalogue_mod
from hubapi.client import HubError

log = logging.getLogger("citybot.staff.stats")


PERIODS = {"today": "今日", "week": "本周", "month": "本月"}
USAGE = "用法：/stats [today|week|month]\n（today 今日，week 本周，month 本月；默认 today）"
DONE_STATES = ("resolved", "closed", "rated")
ACTIVE_STATES = ("received", "dispatched", "in_progress", "reopened")
CAPTION_MAX = 1024
# Font families known to carry CJK glyphs (matplotlib matches by family name).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Noto Serif CJK SC", "Source Han Sans SC", "Source Han Sans CN",
                "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Sarasa Gothic SC", "SimHei", "Microsoft YaHei",
                "PingFang SC", "Heiti SC", "Hiragino Sans GB", "AR PL UMing CN", "AR PL UKai CN",
                "Droid Sans Fallback", "Noto Sans CJK JP")


def now() -> dt.datetime:
    """The bot's clock (tests replace it to follow the hub's settable clock)."""
    return dt.datetime.now(dt.timezone.utc)


def parse_period(arg: str | None) -> str | None:
    """'today' | 'week' | 'month' (default today); None when the argument is anything else."""
    text = (arg or "").strip().lower()
    if not text:
        return "today"
    return text if text in PERIODS else None


def since_of(period: str, at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The start of the calendar period containing `at`, in the city's time zone."""
    local = at.astimezone(tz)
    day = local.date()
    if period == "week":
        day -= dt.timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    return dt.datetime.combine(day, dt.time(0), tz)


def by_group_totals(stats: dict) -> dict[str, dict[str, int]]:
    """{大类: {"active": n, "done": n, "other": n, "total": n}} from the hub's by_group {大类: {state: n}}."""
    out = {}
    for group, states in (stats.get("by_group") or {}).items():
        active = sum(n for s, n in states.items() if s in ACTIVE_STATES)
        done = sum(n for s, n in states.items() if s in DONE_STATES)
        total = sum(states.values())
        out[group] = {"active": active, "done": done, "other": total - active - done, "total": total}
    return out


def _scope_label(level: str | None, department: str | None) -> str:
    if not level or level == "市":
        return "全市" + (f"·{department}" if department else "")
    return f"{level}级" + (f"·{department}" if department else "")


def summary(stats: dict, period: str, since: dt.datetime, tz: ZoneInfo, *, level: str | None = None,
            department: str | None = None) -> str:
    """The Chinese text summary of the hub's figures."""
    local = since.astimezone(tz)
    groups = by_group_totals(stats)
    lines = [f"📊 案件统计（{PERIODS[period]}，自{local.month}月{local.day}日 00:00 起；范围：{_scope_label(level, department)}）",
             f"受理案件：{stats.get('total', 0)} 件"]
    if groups:
        lines.append("按大类：" + "，".join(f"{g} {v['total']}" for g, v in
                                         sorted(groups.items(), key=lambda kv: (-kv[1]["total"], kv[0]))))
    rate = stats.get("on_time_rate")
    lines.append(f"按时办结率：{rate * 100:.1f}%" if rate is not None else "按时办结率：—（暂无办结案件）")
    lines.append(f"当前超期：{stats.get('overdue', 0)} 件")
    median = stats.get("median_handling_hours")
    lines.append(f"处置时长中位数：{median:g} 小时" if median is not None else "处置时长中位数：—")
    return "\n".join(lines)


@functools.cache
def cjk_font() -> str | None:
    """The family name of a font with Chinese glyphs (the packaged Noto Sans CJK first), or None (then the chart
    avoids Chinese)."""
    try:
        from matplotlib import font_manager
    except ImportError:
        return None
    try:  # a font collection: matplotlib registers each face (… CJK SC, TC, JP, KR)
        from noto_cjk_sans_otc import FONT_PATH

        font_manager.fontManager.addfont(str(FONT_PATH))
    except (ImportError, OSError, RuntimeError) as exc:
        log.warning("packaged CJK font unavailable (%s); looking for an installed one", exc)
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in installed), None)


def chart_labels(groups: list[str], catalogue) -> tuple[list[str], dict[str, str], bool]:
    """(axis labels, {label: 大类} legend for the caption, Chinese?). Without a CJK font: the 大类 codes."""
    if cjk_font():
        return groups, {}, True
    codes = {c.name: c.code for c in catalogue.categories} if catalogue is not None else {}
    labels, legend = [], {}
    for i, g in enumerate(groups, 1):
        label = codes.get(g) or (g if g.isascii() else f"C{i}")
        labels.append(label)
        if label != g:
            legend[label] = g
    return labels, legend, False


def render_chart(stats: dict, period: str, catalogue=None) -> tuple[bytes, dict[str, str]]:
    """A stacked bar chart (handling / done / other per 大类) as PNG bytes, and the code legend (may be {})."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups_data = by_group_totals(stats)
    groups = sorted(groups_data, key=lambda g: (-groups_data[g]["total"], g))
    labels, legend, chinese = chart_labels(groups, catalogue)
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    font = {"family": cjk_font()} if chinese else {}
    series = [("active", "办理中" if chinese else "in progress", "#f0a202"),
              ("done", "已办结" if chinese else "done", "#2e8b57"),
              ("other", "其他" if chinese else "other", "#9e9e9e")]
    bottom = [0] * len(groups)
    for key, name, color in series:
        values = [groups_data[g][key] for g in groups]
        ax.bar(labels, values, bottom=bottom, label=name, color=color)
        bottom = [b + v for b, v in zip(bottom, values)]
    title = (f"案件统计（{PERIODS[period]}）" if chinese else f"Cases by category ({period})")
    ax.set_title(title, **({"fontfamily": font["family"]} if chinese else {}))
    ax.set_ylabel("件" if chinese else "cases", **({"fontfamily": font["family"]} if chinese else {}))
    if chinese:
        for tick in ax.get_xticklabels():
            tick.set_fontfamily(font["family"])
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(prop={"family": font["family"]} if chinese else None)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue(), legend


async def stats_command(message: Message, command: CommandObject, staff, hub, settings=None) -> None:
    period = parse_period(command.args)
    if period is None:
        await message.answer(USAGE)
        return
    tz = ZoneInfo(getattr(settings, "timezone", None) or "Asia/Shanghai")
    since = since_of(period, now(), tz)
    level = staff.level
    department = staff.department or None
    try:
        figures = await hub.stats(since, level=level, department=department)
    except HubError as exc:
        log.warning("stats unavailable: %s", exc)
        await message.answer("暂时无法获取统计数据，请稍后再试。")
        return
    text = summary(figures, period, since, tz, level=level, department=department)
    if not figures.get("total"):
        await message.answer(text + "\n（本期暂无案件，不生成图表）")
        return
    catalogue = None
    if settings is not None:
        try:
            catalogue = catalogue_mod.load(settings.categories_file)
        except Exception:  # noqa: BLE001 - only the fallback chart labels need it
            log.exception("catalogue unavailable for chart labels")
    png, legend = await asyncio.to_thread(render_chart, figures, period, catalogue)
    if legend:
        text += "\n图中类别代码：" + "，".join(f"{code}={name}" for code, name in legend.items())
    photo = BufferedInputFile(png, filename=f"stats-{period}.png")
    if len(text) <= CAPTION_MAX:
        await message.answer_photo(photo, caption=text)
    else:
        await message.answer(text)
        await message.answer_photo(photo)


def make_router() -> Router:
    """The /stats Router, gated like every staff router (a fresh one per Dispatcher)."""
    router = Router(name="staff-stats")
    router.message.filter(StaffFilter())
    router.message.register(stats_command, Command("stats"))
    return router
