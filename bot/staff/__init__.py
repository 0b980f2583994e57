"""Staff commands in Telegram: routers gated by a staff filter (bot/staff/access.py).

The overdue/escalation alerts to the staff chats are not here: they run inside `citybot notifier`
(bot/staff/alerts.py is its extra fan-out), sharing its job queue, cursor and Telegram rate limits.
"""

from __future__ import annotations


def routers() -> list:
    """[the commands router, the /stats router, the denial router], fresh instances. The denial router comes
    last: a staff command from a non-staff user gets a polite refusal; other text falls through."""
    from bot.staff import commands, stats

    return [commands.make_router(), stats.make_router(), commands.make_denial_router()]
