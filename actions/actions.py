"""citybot's custom actions: slots in, one call to the hub (through actions.services), events out.

Every sentence they say is a response of domain/texts.yml, rendered by actions.texts. Inside the report form every
turn is read by actions.interpret before anything is used (validate_report_form).
"""

from __future__ import annotations

import abc
import logging
import re
import time
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import interpret, message, outbox, pending, report, services, texts
from citybot import filing as filings
from hubapi.client import CaseNotFound, Conflict, Forbidden, HubRejected, HubUnavailable, ServiceRequest
from hubapi.states import label

log = logging.getLogger(__name__)

REPORT_SLOTS = ("report_description", "report_code", "report_choices", "report_location", "report_lat",
                "report_long", "report_photos", "report_confirm", "report_external_id", "report_place_tries",
                "form_turn")
# What a draft keeps of a report set aside (report_drafts: newest last, at most MAX_DRAFTS, stale after DRAFT_TTL_S).
DRAFT_FIELDS = ("report_description", "report_code", "report_choices", "report_location", "report_lat",
                "report_long", "report_photos", "report_external_id")
MAX_DRAFTS = 3
DRAFT_TTL_S = 2 * 60 * 60
ACTIVE = ("received", "dispatched", "in_progress", "reopened")
DONE = ("resolved", "closed")
CN_DIGITS = {"一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5"}


def _reset_report() -> list[EventType]:
    return [SlotSet(s, None) for s in REPORT_SLOTS]


class HubAction(Action, abc.ABC):
    """An action that talks to the hub; an unreachable hub gets one polite sentence, never a crash."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            return await self.act(dispatcher, tracker, services.get())
        except HubUnavailable:
            texts.say(dispatcher, "utter_hub_down")
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


# -- drafts: reports set aside, to come back to ----------------------------------------------------------------
def _drafts(tracker: Tracker, now: float | None = None) -> list[dict]:
    now = time.time() if now is None else now
    return [d for d in tracker.get_slot("report_drafts") or () if isinstance(d, dict)
            and now - float(d.get("at") or 0) <= DRAFT_TTL_S][-MAX_DRAFTS:]


def _set_aside(tracker: Tracker, report_slots: dict[str, Any]) -> list[dict]:
    """The drafts with this report added (a report without a description is not worth keeping)."""
    return _set_aside_in(_drafts(tracker), report_slots)


def _set_aside_in(drafts: list[dict], report_slots: dict[str, Any]) -> list[dict]:
    drafts = list(drafts)
    if report_slots.get("report_description"):
        drafts.append({**{k: report_slots.get(k) for k in DRAFT_FIELDS}, "at": time.time(), "offered": False})
    return drafts[-MAX_DRAFTS:]


def _current_report(tracker: Tracker) -> dict[str, Any]:
    return {k: tracker.get_slot(k) for k in DRAFT_FIELDS}


def _offer_draft(dispatcher: CollectingDispatcher, tracker: Tracker, drafts: list[dict] | None = None
                 ) -> list[EventType]:
    """After a report is filed or dropped: offer (once) the newest draft still waiting."""
    drafts = _drafts(tracker) if drafts is None else drafts
    waiting = next((d for d in reversed(drafts) if not d.get("offered")), None)
    if waiting is None:
        return []
    texts.say(dispatcher, "utter_draft_offer", service=report.sub_name(services.get().catalogue, waiting.get("report_code")),
              description=waiting.get("report_description") or "")
    waiting["offered"] = True
    return [SlotSet("report_drafts", drafts)]


# -- new report ----------------------------------------------------------------------------------------------------
class ActionStartReport(Action):
    """Reads the report turn: description, 小类 (or the two choices to ask about), place, photos. What came
    before the words (a photo, a shared location, a place said on its own) is used when the turn lacks it."""

    def name(self) -> str:
        return "action_start_report"

    async def run(self, dispatcher, tracker, domain):
        turn = message.read(tracker.latest_message)
        cls = turn.classification
        code = None if cls.ambiguous else cls.service_code
        choices = None if code else [{"service_code": a["service_code"], "name": a.get("subcategory")}
                                     for a in cls.choices] or None
        earlier, clear = pending.take(tracker)
        own_place = turn.address and not interpret.is_deictic(turn.address)   # "这个路口" points at what came before
        if own_place or turn.lat is not None:
            address = turn.address if own_place else None
            lat, long = turn.lat, turn.long
            if turn.lat is None and earlier.lat is not None and not earlier.place:
                lat, long = earlier.lat, earlier.long   # a shared location sent first, then a typed place
        else:
            address, lat, long = earlier.place, earlier.lat, earlier.long
        has_place = bool(address) or lat is not None
        photos = list(earlier.photos) + [p for p in turn.photos if p not in earlier.photos]
        place_text = report.location_text(address, lat, long) if has_place else None
        more = []
        if code:   # a second problem in the same message waits as a draft, offered once this one is filed
            drafts = _drafts(tracker)
            for other, clause in interpret.other_problems(turn.text, code, services.get().catalogue)[:MAX_DRAFTS]:
                drafts = _set_aside_in(drafts, {"report_description": clause, "report_code": other,
                                                "report_location": place_text, "report_lat": lat, "report_long": long,
                                                "report_photos": [], "report_external_id": report.new_external_id()})
            if drafts != _drafts(tracker):
                more.append(SlotSet("report_drafts", drafts))
        return [
            SlotSet("report_description", turn.text),
            SlotSet("report_code", code),
            SlotSet("report_choices", choices),
            SlotSet("report_location", place_text),
            SlotSet("report_lat", lat),
            SlotSet("report_long", long),
            SlotSet("report_photos", photos),
            SlotSet("report_confirm", None),
            SlotSet("report_external_id", report.new_external_id()),
            SlotSet("report_place_tries", 0.0),
            SlotSet("form_turn", None),
            *more,
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
            texts.say(dispatcher, "utter_ask_report_code_two", first=buttons[0]["title"], second=buttons[1]["title"],
                      buttons=buttons[:2])
        elif buttons:
            texts.say(dispatcher, "utter_ask_report_code_one", first=buttons[0]["title"], buttons=buttons)
        else:
            texts.say(dispatcher, "utter_ask_report_code_none")
        return []


class ActionAskReportLocation(Action):
    """"在哪里": plainly the first time, with a hint after an answer that was not a place."""

    def name(self) -> str:
        return "action_ask_report_location"

    async def run(self, dispatcher, tracker, domain):
        tries = int(tracker.get_slot("report_place_tries") or 0)
        texts.say(dispatcher, "utter_ask_report_location_again" if tries else "utter_ask_report_location")
        return []


class ActionAskReportConfirm(Action):
    def name(self) -> str:
        return "action_ask_report_confirm"

    async def run(self, dispatcher, tracker, domain):
        svc = services.get()
        photos = tracker.get_slot("report_photos") or []
        summary = report.summary(svc.catalogue, tracker.get_slot("report_code"),
                                 tracker.get_slot("report_description") or "", tracker.get_slot("report_location"),
                                 tracker.get_slot("report_lat"), tracker.get_slot("report_long"), photos)
        corrected = texts.render("utter_corrected") + "\n" if tracker.get_slot("form_turn") == "correction" else ""
        texts.say(dispatcher, "utter_ask_report_confirm_with_photos" if photos else "utter_ask_report_confirm",
                  summary=summary, before=corrected)
        return []


class KeepsExtraSlots(FormValidationAction, abc.ABC):
    """rasa-sdk returns only the form's required slots; an extract_ method here may also set helper slots
    (photos that arrive mid-form), and those are kept too."""

    @abc.abstractmethod
    def name(self) -> str:
        ...

    async def run(self, dispatcher, tracker, domain):
        extraction = await self.get_extraction_events(dispatcher, tracker, domain)
        tracker.add_slots(extraction)
        validation = await self._extract_validation_events(dispatcher, tracker, domain)
        required = set(self.domain_slots(domain))
        return validation + [e for e in extraction if e["name"] not in required]


def refer(dispatcher: CollectingDispatcher, cls: message.Classification) -> None:
    """Name the line that handles a matter that is not city management (data/categories.yml `referrals`)."""
    ref = services.get().catalogue.referral(cls.referral)
    if ref.note:
        texts.say(dispatcher, "utter_refer_with_note", line=ref.line, note=ref.note)
    else:
        texts.say(dispatcher, "utter_refer", line=ref.line)


async def answer_digression(kind: str, dispatcher, tracker, domain) -> list[EventType]:
    """Answer a question or remark made while the form waits for an answer (the form then asks again)."""
    turn = message.read(tracker.latest_message)
    hub_actions = {"ask_progress": ActionCheckProgress, "list_cases": ActionListCases, "rate": ActionRateCase,
                   "complain_result": ActionReopenCase}
    if kind in hub_actions:
        return await hub_actions[kind]().run(dispatcher, tracker, domain)
    if kind == "not_city_management":
        refer(dispatcher, turn.classification)
    elif kind == "question":
        texts.say(dispatcher, "utter_refer", line=services.get().catalogue.referral("default").line)
    else:
        texts.say(dispatcher, {"help": "utter_help", "greet": "utter_greet", "thanks": "utter_thanks",
                               "goodbye": "utter_goodbye"}.get(kind, "utter_chitchat"))
    return []


class ValidateReportForm(FormValidationAction):
    """Reads every turn inside the report form (actions.interpret) and acts on what it is. Returning no event
    rejects the turn, which only an emergency does: the emergency rule answers it and pauses the form."""

    def name(self) -> str:
        return "validate_report_form"

    @staticmethod
    def form_state(tracker: Tracker) -> interpret.Form:
        return interpret.Form(
            requested=tracker.get_slot("requested_slot"), code=tracker.get_slot("report_code"),
            choices=tuple(c for c in tracker.get_slot("report_choices") or () if isinstance(c, dict)),
            description=tracker.get_slot("report_description") or "", location=tracker.get_slot("report_location"),
            place_tries=int(tracker.get_slot("report_place_tries") or 0),
            photos=tuple(tracker.get_slot("report_photos") or ()))

    async def run(self, dispatcher, tracker, domain):
        svc = services.get()
        form = self.form_state(tracker)
        if form.requested is None:   # the form is being activated: action_start_report has read this turn
            return []
        turn = message.read(tracker.latest_message)
        reading = interpret.read(turn, form, svc.catalogue)
        log.debug("in-form turn %r read as %s %s", turn.text, reading.kind, reading.slots)
        if reading.kind == interpret.EMERGENCY:
            return []
        slots = dict(reading.slots)
        code = slots.get("report_code")
        if code is not None:
            sub = svc.catalogue.by_code(str(code))
            if sub is None or sub.retired:
                slots.pop("report_code")
        events: list[EventType] = []
        if reading.kind == interpret.CANCEL:
            events.append(SlotSet("requested_slot", None))   # the form ends; action_submit_report drops it
        elif reading.kind == interpret.NEW_REPORT:
            events += self._switch(dispatcher, tracker, svc, slots)
            slots = {}
        elif reading.kind == interpret.ASK_CORRECTION:
            texts.say(dispatcher, "utter_ask_what_to_correct")
        elif reading.kind == interpret.DIGRESSION:
            events += await answer_digression(reading.digression, dispatcher, tracker, domain)
        return [SlotSet(k, v) for k, v in slots.items()] + events + [SlotSet("form_turn", reading.kind)]

    @staticmethod
    def _switch(dispatcher, tracker, svc, new: dict) -> list[EventType]:
        """Another problem: set the current report aside as a draft and go on with the new one (never merged)."""
        old_code = tracker.get_slot("report_code")
        drafts = _set_aside(tracker, _current_report(tracker))
        new_code = new.get("report_code")
        old = report.sub_name(svc.catalogue, old_code) if old_code else (tracker.get_slot("report_description") or "")
        if new_code:
            texts.say(dispatcher, "utter_report_switched", new=report.sub_name(svc.catalogue, new_code), old=old)
        else:
            texts.say(dispatcher, "utter_report_switched_unclassified", old=old)
        return [SlotSet("report_drafts", drafts), SlotSet("report_description", new.get("report_description")),
                SlotSet("report_code", new_code), SlotSet("report_choices", None),
                SlotSet("report_location", new.get("report_location")), SlotSet("report_lat", None),
                SlotSet("report_long", None), SlotSet("report_photos", new.get("report_photos") or []),
                SlotSet("report_confirm", None), SlotSet("report_external_id", report.new_external_id()),
                SlotSet("report_place_tries", 0.0)]


class ActionSubmitReport(Action):
    def name(self) -> str:
        return "action_submit_report"

    async def run(self, dispatcher, tracker, domain):
        if not tracker.get_slot("report_confirm"):
            texts.say(dispatcher, "utter_report_cancelled")
            return _reset_report() + _offer_draft(dispatcher, tracker)
        svc = services.get()
        turn = message.read(tracker.latest_message)
        code = tracker.get_slot("report_code")
        lat, long = tracker.get_slot("report_lat"), tracker.get_slot("report_long")
        address = tracker.get_slot("report_location") if lat is None else None
        contact = turn.contact if tracker.get_slot("contact_consent") else None
        filing = filings.make(code=code, description=tracker.get_slot("report_description") or "", address=address,
                              lat=lat, long=long, photos=tracker.get_slot("report_photos") or [],
                              account_id=svc.account_id(tracker.sender_id), channel=svc.channel,
                              external_id=tracker.get_slot("report_external_id") or report.new_external_id(),
                              contact=contact)
        filing = await filings.located(filing, svc.geocoder)
        result = await outbox.file_report(svc, tracker.sender_id, filing)
        events = _reset_report()
        if result.queued:
            texts.say(dispatcher, "utter_report_queued")
        elif result.rejected is not None:
            texts.say(dispatcher, "utter_report_rejected", reason=result.rejected.description)
        elif result.created.duplicate_of:
            dispatcher.utter_message(text=report.duplicate_reply(result.created))
            events.append(SlotSet("last_case_id", result.created.duplicate_of))
        else:
            dispatcher.utter_message(text=report.filed_reply(result.created, svc.catalogue, code, svc.tz))
            events.append(SlotSet("last_case_id", result.created.service_request_id))
        return events + _offer_draft(dispatcher, tracker)


class ActionCancelReport(Action):
    """The citizen abandons the report (or detail) being written: nothing is filed."""

    def name(self) -> str:
        return "action_cancel_report"

    async def run(self, dispatcher, tracker, domain):
        texts.say(dispatcher, "utter_report_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None), *_reset_report(),
                SlotSet("detail_content", None), SlotSet("detail_photos", None), *_offer_draft(dispatcher, tracker)]


class ActionResumeReport(Action):
    """"继续": the newest draft becomes the report being written again, and the form goes on where it was."""

    def name(self) -> str:
        return "action_resume_report"

    async def run(self, dispatcher, tracker, domain):
        drafts = _drafts(tracker)
        if not drafts:
            texts.say(dispatcher, "utter_no_draft")
            return [SlotSet("report_drafts", None)]
        draft = drafts.pop()
        return [*(SlotSet(k, draft.get(k)) for k in DRAFT_FIELDS),
                SlotSet("report_external_id", draft.get("report_external_id") or report.new_external_id()),
                SlotSet("report_confirm", None), SlotSet("report_place_tries", 0.0), SlotSet("form_turn", None),
                SlotSet("report_drafts", drafts or None), FollowupAction("report_form")]


class ActionEmergency(Action):
    """Danger to people, in any state: the line(s) and what to do first. A report being written is set aside
    (not asked again); a city-management hazard in the message is offered for filing afterwards, never required."""

    def name(self) -> str:
        return "action_emergency"

    async def run(self, dispatcher, tracker, domain):
        svc = services.get()
        turn = message.read(tracker.latest_message)
        found = turn.emergency or {"kinds": [], "lines": ["119", "110", "120"]}
        lines = "、".join(texts.render(f"utter_line_{n}") for n in found.get("lines") or ("119", "110", "120"))
        kinds = [k for k in dict.fromkeys(found.get("kinds") or ()) if f"utter_emergency_advice_{k}" in texts.get().responses]
        advice = "".join(texts.render(f"utter_emergency_advice_{k}") for k in kinds[:2]) or \
            texts.render("utter_emergency_advice_general")
        texts.say(dispatcher, "utter_emergency", lines=lines, advice=advice)
        loop = (tracker.active_loop or {}).get("name")
        if loop == "report_form":
            drafts = _set_aside(tracker, _current_report(tracker))
            if drafts:
                drafts[-1]["offered"] = True
                texts.say(dispatcher, "utter_emergency_offer_draft",
                          service=report.sub_name(svc.catalogue, drafts[-1].get("report_code")))
            return [ActiveLoop(None), SlotSet("requested_slot", None), *_reset_report(), SlotSet("report_drafts", drafts)]
        if loop:
            return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("detail_content", None),
                    SlotSet("detail_photos", None)]
        code = interpret.keyword_code(turn.text, svc.catalogue) or interpret.city_code(turn)
        if not code:
            return []
        hazard = {"report_description": turn.text, "report_code": code, "report_location": turn.address,
                  "report_lat": turn.lat, "report_long": turn.long, "report_photos": list(turn.photos),
                  "report_external_id": report.new_external_id()}
        if turn.lat is not None:
            hazard["report_location"] = report.location_text(None, turn.lat, turn.long)
        drafts = _set_aside(tracker, hazard)
        drafts[-1]["offered"] = True
        texts.say(dispatcher, "utter_emergency_offer_hazard", service=report.sub_name(svc.catalogue, code))
        return [SlotSet("report_drafts", drafts)]


class ActionKeepPlace(Action):
    """A place said on its own, outside a form ("我在X路口"): kept for the next report, which will not ask again."""

    def name(self) -> str:
        return "action_keep_place"

    async def run(self, dispatcher, tracker, domain):
        svc = services.get()
        turn = message.read(tracker.latest_message)
        place = turn.address or (interpret.clean(turn.text) if interpret.looks_like_place(turn.text, svc.catalogue)
                                 or interpret.is_place_phrase(turn.text, svc.catalogue) else None)
        if turn.lat is not None:
            texts.say(dispatcher, "utter_location_kept")
            return pending.keep(tracker, turn)
        if not place or interpret.is_deictic(place):
            texts.say(dispatcher, "utter_default")
            return []
        texts.say(dispatcher, "utter_place_kept", place=place)
        return pending.keep(tracker, turn, place=place)


class ActionRefer(Action):
    """Not city management: name the line that handles it; file nothing."""

    def name(self) -> str:
        return "action_refer"

    async def run(self, dispatcher, tracker, domain):
        refer(dispatcher, message.read(tracker.latest_message).classification)
        return []


# -- existing cases --------------------------------------------------------------------------------------------
class ActionCheckProgress(HubAction):
    def name(self) -> str:
        return "action_check_progress"

    async def act(self, dispatcher, tracker, svc):
        case_id, _ = await target_case(svc, tracker)
        if not case_id:
            texts.say(dispatcher, "utter_no_cases")
            return []
        try:
            case = await svc.hub.get_request(case_id)
        except CaseNotFound:
            texts.say(dispatcher, "utter_case_not_found", case_id=case_id)
            return []
        dispatcher.utter_message(text=report.status_line(case, svc.tz))
        if case.state in ("resolved", "closed", "rated"):
            for url in case.result_media_urls[:3]:
                dispatcher.utter_message(image=url)
            if case.state != "rated":
                texts.say(dispatcher, "utter_ask_rating_after_result")
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
            texts.say(dispatcher, "utter_photo_kept" if turn.photos else "utter_location_kept")
            return pending.keep(tracker, turn)
        texts.say(dispatcher, "utter_default")
        return []


class ActionListCases(HubAction):
    def name(self) -> str:
        return "action_list_cases"

    async def act(self, dispatcher, tracker, svc):
        cases = await own_cases(svc, tracker.sender_id)
        if not cases:
            texts.say(dispatcher, "utter_no_cases")
            return []
        items = [texts.render("utter_case_list_item_overdue" if c.overdue else "utter_case_list_item", n=i,
                              case_id=c.service_request_id, service=c.service_name or c.service_code,
                              state=label(c.state) if c.state else c.status)
                 for i, c in enumerate(cases[:10], 1)]
        more = texts.render("utter_case_list_more", total=len(cases)) if len(cases) > 10 else ""
        texts.say(dispatcher, "utter_case_list", items="\n".join(items), more=more)
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
        if (turn.intent in ("cancel", "deny") and not turn.photos) or turn.intent == "emergency" or turn.emergency:
            return {}  # rejected: the cancel or emergency rule takes the turn
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
            texts.say(dispatcher, "utter_no_cases")
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
            texts.say(dispatcher, "utter_case_unknown", case_id=case_id)
            return events
        except Forbidden:
            texts.say(dispatcher, "utter_detail_forbidden")
            return events
        except HubRejected as exc:
            texts.say(dispatcher, "utter_detail_failed", reason=exc.description)
            return events
        texts.say(dispatcher, "utter_detail_added", case_id=case_id)
        return events + [SlotSet("last_case_id", case_id)]


class ActionCancelCase(HubAction):
    def name(self) -> str:
        return "action_cancel_case"

    async def act(self, dispatcher, tracker, svc):
        case_id, _ = await target_case(svc, tracker, ACTIVE)
        if not case_id:
            texts.say(dispatcher, "utter_cancel_none")
            return []
        try:
            await svc.hub.cancel(case_id, account_id=svc.account_id(tracker.sender_id), reason="市民撤销")
        except CaseNotFound:
            texts.say(dispatcher, "utter_case_unknown", case_id=case_id)
            return []
        except Forbidden:
            texts.say(dispatcher, "utter_cancel_forbidden")
            return []
        except Conflict:
            texts.say(dispatcher, "utter_cancel_conflict", case_id=case_id)
            return []
        texts.say(dispatcher, "utter_case_cancelled", case_id=case_id)
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
            texts.say(dispatcher, "utter_ask_rating")
            return []
        case_id, _ = await target_case(svc, tracker, DONE)
        if not case_id:
            texts.say(dispatcher, "utter_rate_none")
            return []
        try:
            await svc.hub.rate(case_id, rating, account_id=svc.account_id(tracker.sender_id),
                               comment=turn.text if not turn.text.startswith("/") else None)
        except (CaseNotFound, Forbidden):
            texts.say(dispatcher, "utter_rate_forbidden")
            return []
        except Conflict:
            texts.say(dispatcher, "utter_rate_conflict", case_id=case_id)
            return []
        texts.say(dispatcher, "utter_rated_low" if rating <= 2 else "utter_rated", case_id=case_id, rating=rating)
        return [SlotSet("last_case_id", case_id)]


class ActionReopenCase(HubAction):
    def name(self) -> str:
        return "action_reopen_case"

    async def act(self, dispatcher, tracker, svc):
        turn = message.read(tracker.latest_message)
        case_id, _ = await target_case(svc, tracker, (*DONE, "rated"))
        if not case_id:
            texts.say(dispatcher, "utter_reopen_none")
            return []
        try:
            case = await svc.hub.reopen(case_id, account_id=svc.account_id(tracker.sender_id), reason=turn.text)
        except (CaseNotFound, Forbidden):
            texts.say(dispatcher, "utter_reopen_forbidden")
            return []
        except Conflict:
            texts.say(dispatcher, "utter_reopen_conflict", case_id=case_id)
            return []
        if case.agency_responsible:
            texts.say(dispatcher, "utter_reopened", case_id=case_id, department=case.agency_responsible)
        else:
            texts.say(dispatcher, "utter_reopened_no_department", case_id=case_id)
        return [SlotSet("last_case_id", case_id)]
