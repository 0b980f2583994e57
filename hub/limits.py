"""The hub's length limits, in characters: one set that the API's validation and the table columns (hub/models.py)
both use, so that what passes validation always fits the column and PostgreSQL (which enforces VARCHAR(n)) and
SQLite (which does not) answer the same.

Texts the hub composes — a standard phrase plus the actor's note in `status_notes`, a comment or a reason in the
audit trail, the normalised address — get columns sized for the longest input plus the phrase, and `fit()` at the
write as a last guard.
"""

from __future__ import annotations

# -- what a client sends --------------------------------------------------------------------------------------
API_KEY = 256
SERVICE_CODE = 32
DESCRIPTION = 4000  # a report's description, a citizen's comment
ADDRESS = 1000
ADDRESS_ID = 128
ZIPCODE = 16
URL = 2048
ACCOUNT_ID = 128
DEVICE_ID = 128
CHANNEL = 16
EXTERNAL_ID = 128
FIRST_NAME = 64
LAST_NAME = 64
PHONE = 32
EMAIL = 254
RATING_COMMENT = 1000
REASON = 2000  # a citizen's reopen/cancel reason
NOTE = 2000  # a staff note or reason
ACTOR = 128  # free text naming who acts (staff API bodies)
DEPARTMENT = 64
CASE_ID = 14
SEARCH = 200  # the staff search's q
MEDIA_URLS = 20  # result photos per resolve

# -- what the hub composes --------------------------------------------------------------------------------------
PHRASE = 128  # the longest standard phrase before a note (e.g. 已重新分类并改派至<department>：)
STATUS_NOTES = max(NOTE, REASON, RATING_COMMENT) + PHRASE
UPDATE_TEXT = DESCRIPTION + PHRASE  # an update's description: the phrase plus a note or comment
AUDIT_REASON = max(DESCRIPTION, NOTE, REASON)
ADDRESS_NORM = ADDRESS  # the duplicate key; NFKC may lengthen an address, so it is cut to fit
PRINCIPAL = 128
IDEMPOTENCY_KEY = 200  # the Idempotency-Key header (a uuid4 is 36)
FILING_PHOTOS = 9  # photos in one filing (media_url repeated)

# -- staff members (hub_staff_member) ---------------------------------------------------------------------------
MEMBER_ID = 80  # <channel>:<id>, e.g. tg:123456789
MEMBER_NAME = 64


def fit(text: str | None, limit: int) -> str | None:
    """`text` cut to `limit` characters (the last one an ellipsis when cut); None stays None."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"
