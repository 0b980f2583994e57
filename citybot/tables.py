"""citybot's own tables, in one list: the `citybot` migration history (citybot/migrations/) covers exactly these.

Each model stays next to the code that uses it; this list is how they are registered (no side-effect imports).
A new table: define the model, add it here, then `citybot migrate --revision "what" --citybot` writes its
revision. tests/test_migrations.py fails when a `citybot_*` table is missing here or the models and the newest
revision differ.
"""

from __future__ import annotations

from citybot.migrate import History


def tables() -> list:
    from bot.buttons import ButtonPayload
    from bot.staff.legacy import LegacyStaffUser
    from citybot.jobs import FeedCursor, Job
    from citybot.subscriptions import Subscription
    from hotline.state import HotlineCall

    models = (Subscription, Job, FeedCursor, ButtonPayload, LegacyStaffUser, HotlineCall)
    return [m.__table__ for m in models]


# the tables of release 7911a06 (the baseline revision); 0003 replaced the two outboxes by citybot_job
HISTORY = History(name="citybot", package="citybot", load_tables=tables, legacy_tables=frozenset({
    "citybot_subscription", "citybot_report_outbox", "citybot_outbox", "citybot_notifier_cursor",
    "citybot_button_payload", "citybot_staff_user", "citybot_hotline_call"}))
