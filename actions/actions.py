"""citybot's custom actions: slots in, one call to the hub (through actions.services), events out."""

from __future__ import annotations

import abc
import logging
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import message, outbox, pending, report, services
from hubapi.client import CaseNotFound, Conflict, Forbidden, HubRejected, HubUnavailable, ServiceRequest
from hubapi.states import label

log = logging.getLogger(__name__)

REPORT_SLOTS = ("report_description", "report_code", "report_choices", "report_location", "report_lat",
                "report_long", "report_photos", "report_confirm", "report_external_id")
# Intents that never answer a question of the report form (the form rejects; rules take over).
NOT_AN_ANSWER = {"cancel", "deny", "greet", "goodbye", "thanks", "help", "ask_progress", "list_cases",
                 "emergency", "rate", "complain_result"}
ACTIVE = ("received", "dispatched", "in_progress", "reopened")
DONE = ("resolved", "closed")
CN_DIGITS = {"一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5"}
HUB_DOWN = "系统暂时繁忙，请稍后再试。"
# Said at the confirmation, these mean "no" whatever the NLU made of them.
NEVER_MIND = {"算了", "不用了", "不要了", "不报了", "取消", "不了", "先不了", "还是算了"}


def _reset_report() -> list[EventType]:
    return [SlotSet(s, None) for s in REPORT_SLOTS]


class HubAction(Action, abc.ABC):
    """An action that talks to the hub; an unreachable hub gets one polite sentence, never a crash."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            return await self.act(dispatcher, tracker, services.get())
        except HubUnavailable:
            dispatcher.utter_message(text=HUB_DOWN)
            return []

    @abc.abstractmethod
    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, svc: services.Services) -> list[EventType]:
        ...


# -- finding "the case" the citizen means ----------------------------------------------------------------------
def _mentions(svc: services.Services, text: str, case: ServiceRequest) -> bool:
    sub = svc.catalogue.by_code(case.service_code or "")
    words = ([sub.name] + list(sub.keywords)) if sub else [case.service_name or ""]
    return any(w and w in text for w in words) or any(
        w[:2] in text for w in words if len(w) >= 2 and w[:2] not in ("垃圾", "道路"))  # 井盖破损 <- "井盖"


async def own_cases(svc: services.Services, sender_id: str) -> list[ServiceRequest]:
    cases = await svc.hub.list_requests(account_id=svc.account_id(sender_id), limit=50)
    return sorted(cases, key=lambda c: (c.requested_datetime is not None, c.requested_datetime, c.service_request_id),
                  reverse=True)


async def target_case(svc: services.Services, tracker: Tracker, states: tuple[str, ...] | None = None
                      ) -> tuple[str | None, list[ServiceRequest]]:
    """The case id the citizen means: a case number in this message, else one of their cases that the text
    mentions ("上次反映的井盖"), else the last case of this conversation, else their newest (in `states`)."""
    turn = message.read(tracker.latest_message)
    given = turn.entity("case_id")
    if given:
        return str(given), []
    cases = await own_cases(svc, tracker.sender_id)
    pool = [c for c in cases if states is None or c.state in states] or cases
    mentioned = [c for c in pool if _mentions(svc, turn.text, c)]
    if mentioned:
        return mentioned[0].service_request_id, cases
    last = tracker.get_slot("last_case_id")
    if last and any(c.service_request_id == last for c in pool):
        return last, cases
    return (pool[0].service_request_id if pool else None), cases


# -- new report ----------------------------------------------------------------------------------------------------
class ActionStartReport(Action):
    """Reads the report turn: description, 小类 (or the two choices to ask about), location, photos."""

    def name(self) -> str:
        return "action_start_report"

    async def run(self, dispatcher, tracker, domain):
        turn = message.read(tracker.latest_message)
        cls = turn.classification
        code = None if cls.ambiguous else cls.service_code
        choices = None if code else [{"service_code": a["service_code"], "name": a.get("subcategory")}
                                     for a in cls.choices] or None
        earlier, clear = pending.take(tracker)  # a photo or location sent before the words
        lat, long = (turn.lat, turn.long) if turn.lat is not None else (earlier.lat, earlier.long)
        has_place = bool(turn.address) or lat is not None
        photos = list(earlier.photos) + [p for p in turn.photos if p not in earlier.photos]
        return [
            SlotSet("report_description", turn.text),
            SlotSet("report_code", code),
            SlotSet("report_choices", choices),
            SlotSet("report_location", report.location_text(turn.address, lat, long) if has_place else None),
            SlotSet("report_lat", lat),
            SlotSet("report_long", long),
            SlotSet("report_photos", photos),
            SlotSet("report_confirm", None),
            SlotSet("report_external_id", report.new_external_id()),
            *clear,
        ]


class ActionAskReportCode(Action):
    def name(self) -> str:
        return "action_ask_report_code"

    async def run(self, dispatcher, tracker, domain):
        choices = tracker.get_slot("report_choices") or []
        buttons = [{"title": c["name"], "payload": f'/choose_subcategory{{"service_code":"{c["service_code"]}"}}'}
                   for c in choices if c.get("name")]
        if len(buttons) >= 2:
            dispatcher.utter_message(text=f"请问是{buttons[0]['title']}还是{buttons[1]['title']}？\n都不是的话，请直接说明是什么问题。",
                                     buttons=buttons)
        elif buttons:
            dispatcher.utter_message(text=f"请问是{buttons[0]['title']}吗？如果不是，请简单说明是什么问题。",
                                     buttons=buttons)
        else:
            dispatcher.utter_message(text="请简单说明是什么问题，例如：井盖破损、路灯不亮、垃圾堆积、占道经营。")
        return []


class ActionAskReportConfirm(Action):
    def name(self) -> str:
        return "action_ask_report_confirm"

    async def run(self, dispatcher, tracker, domain):
        svc = services.get()
        photos = tracker.get_slot("report_photos") or []
        text = report.summary(svc.catalogue, tracker.get_slot("report_code"), tracker.get_slot("report_description") or "",
                              tracker.get_slot("report_location"), None, None, photos)
        offer = "" if photos else "如有现场照片，可以先发送照片（可选）。"
        dispatcher.utter_message(text=f"请确认：{text}\n{offer}确认提交吗？",
                                 buttons=[{"title": "确认提交", "payload": "/affirm"}, {"title": "取消", "payload": "/deny"}])
        return []


class KeepsExtraSlots(FormValidationAction, abc.ABC):
    """rasa-sdk returns only the form's required slots; an extract_ method here may also set helper slots
    (photos that arrive mid-form, the description), and those are kept too."""

    @abc.abstractmethod
    def name(self) -> str:
        ...

    async def run(self, dispatcher, tracker, domain):
        extraction = await self.get_extraction_events(dispatcher, tracker, domain)
        tracker.add_slots(extraction)
        validation = await self._extract_validation_events(dispatcher, tracker, domain)
        required = set(self.domain_slots(domain))
        return validation + [e for e in extraction if e["name"] not in required]


class ValidateReportForm(KeepsExtraSlots):
    def name(self) -> str:
        return "validate_report_form"

    @staticmethod
    def _photos(tracker: Tracker, turn: message.Turn) -> dict:
        if not turn.photos:
            return {}
        old = list(tracker.get_slot("report_photos") or [])
        return {"report_photos": old + [p for p in turn.photos if p not in old]}

    async def extract_report_code(self, dispatcher, tracker, domain) -> dict:
        if tracker.get_slot("requested_slot") != "report_code":
            return {}
        turn = message.read(tracker.latest_message)
        if turn.intent in NOT_AN_ANSWER:
            return {}
        code = turn.entity("service_code") or turn.classification.service_code
        return {"report_code": code, **self._photos(tracker, turn)} if code else self._photos(tracker, turn)

    def validate_report_code(self, value: Any, dispatcher, tracker, domain) -> dict:
        sub = services.get().catalogue.by_code(str(value)) if value else None
        if sub is None or sub.retired:
            return {"report_code": None}
        return {"report_code": sub.code}

    async def extract_report_location(self, dispatcher, tracker, domain) -> dict:
        if tracker.get_slot("requested_slot") != "report_location":
            return {}
        turn = message.read(tracker.latest_message)
        if turn.lat is not None:
            return {"report_location": report.location_text(None, turn.lat, turn.long), "report_lat": turn.lat,
                    "report_long": turn.long, **self._photos(tracker, turn)}
        if turn.intent in NOT_AN_ANSWER and not turn.address:
            return self._photos(tracker, turn)
        if not turn.address and turn.intent != "inform_location" and not turn.classification.ambiguous:
            # more about the problem ("路灯也歪了"), not a place: keep the words, ask where again
            more = f"{tracker.get_slot('report_description') or ''} {turn.text}".strip()
            return {"report_description": more, **self._photos(tracker, turn)}
        place = turn.address or turn.text  # a typed answer to "在哪里" is the address, even if the NLU missed it
        if len(place) < 2:
            return self._photos(tracker, turn)
        return {"report_location": place, **self._photos(tracker, turn)}

    async def extract_report_confirm(self, dispatcher, tracker, domain) -> dict:
        if tracker.get_slot("requested_slot") != "report_confirm":
            return {}
        turn = message.read(tracker.latest_message)
        if turn.intent == "affirm":
            return {"report_confirm": True, **self._photos(tracker, turn)}
        if turn.intent in ("deny", "cancel") or turn.text.strip("。！!. ") in NEVER_MIND:
            return {"report_confirm": False}
        out = self._photos(tracker, turn)
        if turn.lat is not None:  # a location shared at the confirmation corrects the place
            out.update(report_location=report.location_text(None, turn.lat, turn.long), report_lat=turn.lat,
                       report_long=turn.long)
        if turn.text and turn.intent not in NOT_AN_ANSWER and not turn.text.startswith("/"):
            # more words about the problem: add them to the description and show the summary again
            out["report_description"] = f"{tracker.get_slot('report_description') or ''} {turn.text}".strip()
        return out


class ActionSubmitReport(Action):
    def name(self) -> str:
        return "action_submit_report"

    async def run(self, dispatcher, tracker, domain):
        if not tracker.get_slot("report_confirm"):
            dispatcher.utter_message(response="utter_report_cancelled")
            return _reset_report()
        svc = services.get()
        turn = message.read(tracker.latest_message)
        code = tracker.get_slot("report_code")
        lat, long = tracker.get_slot("report_lat"), tracker.get_slot("report_long")
        address = tracker.get_slot("report_location") if lat is None else None
        contact = turn.contact if tracker.get_slot("contact_consent") else None
        filing = report.filing(code=code, description=tracker.get_slot("report_description") or "", address=address,
                               lat=lat, long=long, photos=tracker.get_slot("report_photos") or [],
                               account_id=svc.account_id(tracker.sender_id), channel=svc.channel,
                               external_id=tracker.get_slot("report_external_id") or report.new_external_id(),
                               contact=contact)
        filing = await report.geocoded(filing, svc.geocoder)
        result = await outbox.file_report(svc, tracker.sender_id, filing)
        events = _reset_report()
        if result.queued:
            dispatcher.utter_message(response="utter_report_queued")
        elif result.rejected is not None:
            dispatcher.utter_message(text=f"提交失败：{result.rejected.description}。请修改后重新描述问题。")
        elif result.created.duplicate_of:
            dispatcher.utter_message(text=report.duplicate_reply(result.created))
            events.append(SlotSet("last_case_id", result.created.duplicate_of))
        else:
            dispatcher.utter_message(text=report.filed_reply(result.created, svc.catalogue, code, svc.tz))
            events.append(SlotSet("last_case_id", result.created.service_request_id))
        return events


class ActionCancelReport(Action):
    """The citizen abandons the report being written: nothing is filed."""

    def name(self) -> str:
        return "action_cancel_report"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_report_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None), *_reset_report(),
                SlotSet("detail_content", None), SlotSet("detail_photos", None)]


class ActionRefer(Action):
    """Not city management: name the line that handles it; file nothing."""

    def name(self) -> str:
        return "action_refer"

    async def run(self, dispatcher, tracker, domain):
        cls = message.read(tracker.latest_message).classification
        ref = services.get().catalogue.referral(cls.referral)
        note = f"（{ref.note}）" if ref.note else ""
        dispatcher.utter_message(text=f"这个问题不属于城市管理范围，建议您联系{ref.line}{note}。")
        return []


# -- existing cases --------------------------------------------------------------------------------------------
class ActionCheckProgress(HubAction):
    def name(self) -> str:
        return "action_check_progress"

    async def act(self, dispatcher, tracker, svc):
        case_id, _ = await target_case(svc, tracker)
        if not case_id:
            dispatcher.utter_message(response="utter_no_cases")
            return []
        try:
            case = await svc.hub.get_request(case_id)
        except CaseNotFound:
            dispatcher.utter_message(text=f"没有找到案件{case_id}，请核对案件编号（14位数字）。")
            return []
        dispatcher.utter_message(text=report.status_line(case, svc.tz))
        if case.state in ("resolved", "closed", "rated"):
            for url in case.result_media_urls[:3]:
                dispatcher.utter_message(image=url)
            if case.state != "rated":
                dispatcher.utter_message(text="对处理结果满意吗？可以回复1-5分评价；如果没有解决，请告诉我“没修好”。")
        return [SlotSet("last_case_id", case.service_request_id)]


class ActionFallback(ActionCheckProgress):
    """Not understood: a bare case number still gets its progress; anything else is asked to rephrase."""

    def name(self) -> str:
        return "action_fallback"

    async def act(self, dispatcher, tracker, svc):
        turn = message.read(tracker.latest_message)
        if turn.entity("case_id"):
            return await super().act(dispatcher, tracker, svc)
        if not turn.text and (turn.photos or turn.lat is not None):  # a photo or location before the words
            dispatcher.utter_message(response="utter_photo_kept" if turn.photos else "utter_location_kept")
            return pending.keep(tracker, turn)
        dispatcher.utter_message(response="utter_default")
        return []


class ActionListCases(HubAction):
    def name(self) -> str:
        return "action_list_cases"

    async def act(self, dispatcher, tracker, svc):
        cases = await own_cases(svc, tracker.sender_id)
        if not cases:
            dispatcher.utter_message(response="utter_no_cases")
            return []
        lines = [f"{i}. {c.service_request_id} {c.service_name or c.service_code} "
                 f"{label(c.state) if c.state else c.status}{'（已超时）' if c.overdue else ''}"
                 for i, c in enumerate(cases[:10], 1)]
        more = f"\n（共{len(cases)}件，显示最近10件）" if len(cases) > 10 else ""
        dispatcher.utter_message(text="您反映的问题：\n" + "\n".join(lines) + more + "\n发送案件编号可查看详情。")
        return []


def _has_content(text: str) -> bool:
    """Whether an add_detail message says something beyond "我想补充一下"."""
    rest = re.sub(r"补充|说明|一下|一点|情况|材料|再|加|追加|张|几|照片|图片|图|现场|上传|发给你|发|拍了|我|想|下|点|：|:|，|。|\s", "", text)
    return len(rest) >= 4


class ActionStartDetail(Action):
    def name(self) -> str:
        return "action_start_detail"

    async def run(self, dispatcher, tracker, domain):
        turn = message.read(tracker.latest_message)
        earlier, clear = pending.take(tracker)  # "补充" after a photo sent on its own
        photos = list(earlier.photos) + [p for p in turn.photos if p not in earlier.photos]
        content = turn.text if _has_content(turn.text) else ("[照片]" if photos else None)
        return [SlotSet("detail_content", content), SlotSet("detail_photos", photos), *clear]


class ValidateDetailForm(KeepsExtraSlots):
    def name(self) -> str:
        return "validate_detail_form"

    async def extract_detail_content(self, dispatcher, tracker, domain) -> dict:
        if tracker.get_slot("requested_slot") != "detail_content":
            return {}
        turn = message.read(tracker.latest_message)
        if turn.intent in ("cancel", "deny") and not turn.photos:
            return {}
        photos = list(tracker.get_slot("detail_photos") or []) + list(turn.photos)
        if not turn.text and not photos:
            return {}
        return {"detail_content": turn.text or "[照片]", "detail_photos": photos}


class ActionAddDetail(HubAction):
    def name(self) -> str:
        return "action_add_detail"

    async def act(self, dispatcher, tracker, svc):
        events: list[EventType] = [SlotSet("detail_content", None), SlotSet("detail_photos", None)]
        case_id, _ = await target_case(svc, tracker, ACTIVE)
        if not case_id:
            dispatcher.utter_message(response="utter_no_cases")
            return events
        text = tracker.get_slot("detail_content") or ""
        text = "" if text == "[照片]" else text
        photos = tracker.get_slot("detail_photos") or []
        account = svc.account_id(tracker.sender_id)
        try:
            if text or not photos:
                await svc.hub.comment(case_id, account_id=account, text=text or "（市民补充）",
                                      media_url=photos[0] if photos else None)
                photos = photos[1:]
            for url in photos:
                await svc.hub.comment(case_id, account_id=account, media_url=url)
        except CaseNotFound:
            dispatcher.utter_message(text=f"没有找到案件{case_id}，请核对案件编号。")
            return events
        except Forbidden:
            dispatcher.utter_message(text="只能补充您本人反映的案件。")
            return events
        except HubRejected as exc:
            dispatcher.utter_message(text=f"补充失败：{exc.description}")
            return events
        dispatcher.utter_message(text=f"已将补充内容添加到案件{case_id}，处理人员会看到。")
        return events + [SlotSet("last_case_id", case_id)]


class ActionCancelCase(HubAction):
    def name(self) -> str:
        return "action_cancel_case"

    async def act(self, dispatcher, tracker, svc):
        case_id, _ = await target_case(svc, tracker, ACTIVE)
        if not case_id:
            dispatcher.utter_message(text="您目前没有可以撤销的案件。")
            return []
        try:
            await svc.hub.cancel(case_id, account_id=svc.account_id(tracker.sender_id), reason="市民撤销")
        except CaseNotFound:
            dispatcher.utter_message(text=f"没有找到案件{case_id}，请核对案件编号。")
            return []
        except Forbidden:
            dispatcher.utter_message(text="只能撤销您本人反映的案件。")
            return []
        except Conflict:
            dispatcher.utter_message(text=f"案件{case_id}已在处理后期或已结束，无法撤销。")
            return []
        dispatcher.utter_message(text=f"已撤销案件{case_id}。如问题再次出现，欢迎随时反映。")
        return [SlotSet("last_case_id", case_id)]


def _rating(turn: message.Turn) -> int | None:
    raw = str(turn.entity("rating") or "")
    if not raw:
        m = re.search(r"[1-5一二三四五](?=\s*(?:分|星|颗星))|^\s*[1-5]\s*$", turn.text)
        raw = m.group(0).strip() if m else ""
    raw = CN_DIGITS.get(raw, raw)
    return int(raw) if raw in {"1", "2", "3", "4", "5"} else None


class ActionRateCase(HubAction):
    def name(self) -> str:
        return "action_rate_case"

    async def act(self, dispatcher, tracker, svc):
        turn = message.read(tracker.latest_message)
        rating = _rating(turn)
        if rating is None:
            dispatcher.utter_message(text="请为处理结果打分（1-5分，5分最满意）：",
                                     buttons=[{"title": f"{n}分", "payload": f'/rate{{"rating":"{n}"}}'}
                                              for n in (5, 4, 3, 2, 1)])
            return []
        case_id, _ = await target_case(svc, tracker, DONE)
        if not case_id:
            dispatcher.utter_message(text="您目前没有待评价的案件。")
            return []
        try:
            await svc.hub.rate(case_id, rating, account_id=svc.account_id(tracker.sender_id),
                               comment=turn.text if not turn.text.startswith("/") else None)
        except (CaseNotFound, Forbidden):
            dispatcher.utter_message(text="只能评价您本人反映的案件。")
            return []
        except Conflict:
            dispatcher.utter_message(text=f"案件{case_id}还没有处理完，处理完成后再来评价吧。")
            return []
        low = "我们会督促改进。如问题没有解决，请告诉我“没修好”。" if rating <= 2 else ""
        dispatcher.utter_message(text=f"感谢评价！已为案件{case_id}记录{rating}分。{low}")
        return [SlotSet("last_case_id", case_id)]


class ActionReopenCase(HubAction):
    def name(self) -> str:
        return "action_reopen_case"

    async def act(self, dispatcher, tracker, svc):
        turn = message.read(tracker.latest_message)
        case_id, _ = await target_case(svc, tracker, (*DONE, "rated"))
        if not case_id:
            dispatcher.utter_message(text="没有找到已处理的案件。如果是新问题，请直接描述问题和位置。")
            return []
        try:
            case = await svc.hub.reopen(case_id, account_id=svc.account_id(tracker.sender_id), reason=turn.text)
        except (CaseNotFound, Forbidden):
            dispatcher.utter_message(text="只能对您本人反映的案件申请重新处理。")
            return []
        except Conflict:
            dispatcher.utter_message(text=f"案件{case_id}还在处理中，我们会督促尽快处置。")
            return []
        dept = f"，已重新派遣至{case.agency_responsible}" if case.agency_responsible else ""
        dispatcher.utter_message(text=f"抱歉给您带来不便。案件{case_id}已重新处理{dept}，有进展会通知您。")
        return [SlotSet("last_case_id", case_id)]
