"""The last word on a message's intent: danger to people first, then the matter (the category model) where the
intent classifier and the category model disagree. Runs as the last step of the pipeline
(nlu/components/triage.py); standard library only, so both virtualenvs can test it.

1. Emergency (nlu/emergency.py rules) → intent `emergency` and the output `emergency` {kinds, lines, evidence,
   source}, in every state: the dialogue answers it before anything else, form or no form. The classifier's own
   `emergency` intent is kept only when it is very sure and the message speaks of no risk, past or denial (source
   "classifier", all three lines): the rules decide, the classifier backs them up on wordings they do not know.
2. A "report" whose matter is confidently not city management (category 其他 with a referral) → intent
   `not_city_management`: a water outage gets the water company's line, not 城管 buttons.
3. A message the intent classifier could not place (nlu_fallback, chitchat, or not_city_management) but whose
   matter is confidently a city-management 小类 → `report_problem`: bare nouns ("乱停车") and fragments are reports.
   So is a "place" (inform_location) that says more than the place ("X路上的大树被刮倒了", "X路口井盖没了"), and a "progress
   question" (ask_progress) that asks nothing about progress, or a "detail" (add_detail) that names a place and
   refers to no earlier report ("X路有辆车停了一个多月").
4. A report that starts by adding to an earlier one ("补充一下，…") → `add_detail`.
"""

from __future__ import annotations

import re
from typing import Iterable

from nlu import emergency as em

EMERGENCY = "emergency"
REPORT = "report_problem"
REFER = "not_city_management"
CLASSIFIER_EMERGENCY_MIN = 0.9   # the intent classifier alone flags an emergency only when this sure
REFER_MIN = 0.5                  # P(其他) to refer a "report" to a named line (police, housing, utilities…)
REFER_DEFAULT_MIN = 0.85         # … to the general 12345 line ("我要投诉" alone stays a report and is asked what)
REPORT_MIN = 0.9                 # P(大类) to take an unplaced message for a report
UNPLACED = {"nlu_fallback", "chitchat", REFER}
PLACE_ONLY_MAX_REST = 4          # characters beyond the place that a place answer may still have ("我现在在…")
_PROGRESS = re.compile(r"进度|处理了|处理得|怎么样|咋样|修好了没|修了没|好了没|到哪|多久|还没|有人管吗|有人来|上次|之前|以前|上周|"
                       r"前几天|反映的|报的|投诉的|举报的|案件|编号|工单|单子|结果|回复|答复|催")
_MORE_DETAIL = re.compile(r"^(?:我想|我要|再|我)?(?:补充|追加)")
_DETAIL_WORDS = re.compile(r"补充|追加|再发|照片|图片|视频|附上|说明|忘了说|还有一点|另外|刚才|刚刚|那个案|上次|之前|又")


def decide(text: str, intent: str | None, confidence: float, category: dict | None,
           ranking: list[dict] | None = None, location: dict | None = None,
           keywords: Iterable[str] = ()) -> tuple[str | None, dict | None]:
    """(the intent to use instead, or None to keep it; the `emergency` output, or None). `keywords`: the catalogue
    name and keywords of the category's 小类 (a "place" that also names its problem is a report)."""
    found = em.detect(text or "")
    if found:
        return EMERGENCY, {**found.as_dict(), "source": "rules"}
    if intent == EMERGENCY:
        if confidence >= CLASSIFIER_EMERGENCY_MIN and not em.hedged(text):
            return None, {"kinds": [], "lines": list(em.LINES_ORDER), "evidence": [], "source": "classifier"}
        runner_up = next((r.get("name") for r in ranking or () if r.get("name") not in (EMERGENCY, None)), None)
        intent = runner_up or "nlu_fallback"
        changed = intent
    else:
        changed = None
    cat = category or {}
    conf = float(cat.get("confidence") or 0.0)
    if intent == REPORT and cat.get("category") == "其他" and cat.get("referral"):
        if conf >= (REFER_DEFAULT_MIN if cat["referral"] == "default" else REFER_MIN):
            return REFER, None
    sure_city = bool(cat.get("service_code")) and conf >= REPORT_MIN
    if intent in UNPLACED and sure_city:
        return REPORT, None
    if intent == "inform_location" and sure_city:
        place = (location or {}).get("text") or ""
        rest = re.sub(r"[\s，,。.!！?？、]", "", text.replace(place, "") if place else text)
        if len(rest) > PLACE_ONLY_MAX_REST or any(len(k) >= 2 and k in rest for k in keywords):
            return REPORT, None
    if intent == "ask_progress" and sure_city and not _PROGRESS.search(text):
        return REPORT, None
    if intent == "add_detail" and sure_city and (location or {}).get("text") and not _DETAIL_WORDS.search(text):
        return REPORT, None     # a place and a problem, nothing that refers to an earlier report: a new report
    if intent == REPORT and _MORE_DETAIL.match(text.strip()):
        return "add_detail", None
    return changed, None
