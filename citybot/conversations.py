"""`citybot eval-dialogue FILE`: play scripted citizens through the real dialogue and check the outcomes at the hub.

A conversation set is YAML: a list of `{id, turns, where?, expect}` (the format described at the top of
tests/dialogue/conversations.yml). Each conversation is played from a fresh sender through Rasa's REST channel
(the path every chat front end takes) → the action server → the hub; afterwards the outcome is read back from the
hub's API (the sender's cases: 小类, address, state, location, photo) and from what the bot said.

Turns: plain text; "@确认" presses the button whose title contains 确认 among the bot's most recent buttons ("@2" the
2nd); "!photo [words]" sends a photo (uploaded to the hub first) with the words as its caption; "!loc LAT LONG"
shares a location. After the turns, when a case is expected, a cooperative citizen answers what the bot still asks,
at most 6 times: a 确认 button is pressed; buttons naming an expected 小类 → that one; a "是A还是B" question without
such a button → "都不是，是<first expected 小类>"; a question for the place → the conversation's `where` (or --where).

Prints PASS/FAIL per conversation, the transcript of every failure, and `conversations: P/N passed` (plus the
emergencies answered). Without --rasa-url/--hub-url it starts its own stack on loopback (citybot.stack) with the
newest trained model; with them it plays against a running one (senders get a unique prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

DEFAULT_WHERE = "福田区红荔路1号"   # the cooperative citizen's place when a conversation gives none (--where)
EMERGENCY_LINE = re.compile(r"119|110|120")
LINKED = re.compile(r"已有|重复|同一")
PLACE_QUESTION = re.compile(r"在哪里|位置|地点|定位|地址")
EITHER_QUESTION = re.compile(r"是(.{1,12}?)还是(.{1,12}?)[？?]")
NOT_LIVE = {"cancelled", "duplicate", "referred"}
OPEN = {"received", "dispatched", "in_progress", "reopened", "resolved"}
COOPERATIVE_TURNS = 6
PHOTO = Path(__file__).resolve().parents[1] / "data" / "sample_result.jpg"


@dataclass
class Turn:
    said: str                                  # what the citizen sent, as written in the script
    replies: list[dict] = field(default_factory=list)
    error: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(r.get("text") or "" for r in self.replies if r.get("text"))

    @property
    def buttons(self) -> list[dict]:
        return [b for r in self.replies for b in r.get("buttons") or ()]


@dataclass
class Result:
    id: str
    sender: str
    turns: list[Turn]
    cases: list[dict]
    failures: list[str]
    emergency: bool = False     # the conversation expects an emergency answer

    @property
    def passed(self) -> bool:
        return not self.failures

    def transcript(self) -> str:
        lines = []
        for t in self.turns:
            lines.append(f"  市民: {t.said}")
            if t.error:
                lines.append(f"  !! {t.error}")
            for r in t.replies:
                if r.get("text"):
                    lines.append("  机器人: " + r["text"].replace("\n", "\n          "))
                if r.get("image"):
                    lines.append(f"  机器人: [图片] {r['image']}")
                if r.get("buttons"):
                    lines.append("          [" + " | ".join(b.get("title", "") for b in r["buttons"]) + "]")
        for c in self.cases:
            lines.append(f"  hub: {c.get('service_request_id')} {c.get('service_name')} {c.get('state')} "
                         f"address={c.get('address')!r} lat={c.get('lat')} photo={bool(c.get('media_url'))} "
                         f"description={c.get('description')!r}")
        return "\n".join(lines)


def load(path: str | Path) -> list[dict]:
    """A conversation set; a clear error for anything that is not one."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(doc, list):
        raise ValueError(f"{path}: a conversation set is a YAML list of conversations")
    seen = set()
    for i, conv in enumerate(doc):
        if not isinstance(conv, dict) or not conv.get("id") or not isinstance(conv.get("turns"), list):
            raise ValueError(f"{path}: entry {i} needs an `id` and a list of `turns`")
        if not isinstance(conv.get("expect"), dict):
            raise ValueError(f"{path}: {conv['id']}: `expect` must be a mapping")
        if conv["id"] in seen:
            raise ValueError(f"{path}: duplicate id {conv['id']}")
        seen.add(conv["id"])
    return doc


class Player:
    """Plays conversations against one stack: Rasa's REST webhook and the hub (its Open311 API)."""

    def __init__(self, rasa_url: str, hub, *, prefix: str | None = None, timeout: float = 60.0,
                 default_where: str = DEFAULT_WHERE):
        self.rasa_url = rasa_url.rstrip("/")
        self.default_where = default_where
        self.hub = hub                       # hubapi.client.HubClient
        self.prefix = prefix or f"eval{uuid.uuid4().hex[:6]}"
        self.http = httpx.AsyncClient(timeout=timeout)
        self._photo: str | None = None

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(self, sender: str, text: str, metadata: dict | None = None) -> list[dict]:
        body = {"sender": sender, "message": text, **({"metadata": metadata} if metadata else {})}
        resp = await self.http.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body)
        resp.raise_for_status()
        return resp.json()

    async def _photo_url(self) -> str:
        if self._photo is None:
            self._photo = await self.hub.upload_media(PHOTO.read_bytes(), "photo.jpg", "image/jpeg")
        return self._photo

    @staticmethod
    def _last_buttons(turns: list[Turn]) -> list[dict]:
        return next((t.buttons for t in reversed(turns) if t.buttons), [])

    async def _turn(self, sender: str, said: str, turns: list[Turn]) -> Turn:
        turn = Turn(said)
        try:
            if said.startswith("@"):
                buttons, key = self._last_buttons(turns), said[1:].strip()
                pick = (buttons[int(key) - 1] if key.isdigit() and 0 < int(key) <= len(buttons)
                        else next((b for b in buttons if key in (b.get("title") or "")), None))
                if pick is None:
                    turn.error = f"no button {key!r} to press"
                    return turn
                turn.said = f"{said} → {pick.get('payload')}"
                turn.replies = await self._send(sender, pick["payload"])
            elif said.startswith("!photo"):
                turn.replies = await self._send(sender, said[len("!photo"):].strip(), {"photos": [await self._photo_url()]})
            elif said.startswith("!loc"):
                lat, long = (float(x) for x in said.split()[1:3])
                turn.replies = await self._send(sender, "", {"location": {"lat": lat, "long": long}})
            else:
                turn.replies = await self._send(sender, said)
        except (httpx.HTTPError, ValueError) as exc:
            turn.error = f"{type(exc).__name__}: {exc}"
        return turn

    async def _cooperate(self, sender: str, conv: dict, turns: list[Turn], expected: list[str]) -> None:
        """Answer what the bot still asks, as a cooperative citizen would."""
        where = str(conv.get("where") or self.default_where)
        for _ in range(COOPERATIVE_TURNS):
            last = turns[-1]
            buttons, text = last.buttons, last.text
            confirm = next((b for b in buttons if "确认" in (b.get("title") or "")), None)
            named = next((b for b in buttons if any(e in (b.get("title") or "") for e in expected)), None)
            if confirm or named:
                said = "@" + (confirm or named)["title"]
            elif EITHER_QUESTION.search(text):
                said = f"都不是，是{expected[0]}"
            elif PLACE_QUESTION.search(text):
                said = where
            else:
                return
            turns.append(await self._turn(sender, said, turns))

    async def play(self, conv: dict) -> Result:
        sender = f"{self.prefix}-{conv['id']}"
        expect = conv["expect"]
        turns: list[Turn] = []
        for said in conv["turns"]:
            turns.append(await self._turn(sender, str(said), turns))
        scripted = list(turns)
        if expect.get("filed"):
            await self._cooperate(sender, conv, turns, [str(e) for e in expect["filed"]])
        cases = [c.raw for c in await self.hub.list_requests(account_id=f"tg:{sender}", limit=50)]
        failures = check(expect, scripted, turns, cases)
        return Result(str(conv["id"]), sender, turns, cases, failures, emergency="emergency_at" in expect)


def check(expect: dict, scripted: list[Turn], turns: list[Turn], cases: list[dict]) -> list[str]:
    """What does not hold of `expect` (an empty list when the conversation passed)."""
    failures = []
    said = [t.text for t in turns]
    live = [c for c in cases if c.get("state") not in NOT_LIVE]
    errors = [t.error for t in turns if t.error]
    if errors:
        failures.append("errors: " + "; ".join(errors))
    if "emergency_at" in expect:
        n = int(expect["emergency_at"])
        if n >= len(scripted) or not EMERGENCY_LINE.search(scripted[n].text):
            failures.append(f"turn {n} was not answered with 119/110/120")
    matches = live
    if "filed" in expect:
        wanted = expect["filed"]
        if wanted is None:
            if live:
                failures.append(f"expected no live case, found {[c.get('service_name') for c in live]}")
        else:
            matches = [c for c in live if c.get("service_name") in wanted]
            if not matches:
                failures.append(f"no live case of {wanted} (live: {[c.get('service_name') for c in live]})")
    has, lacks = expect.get("address_has") or [], expect.get("address_lacks") or []
    if (has or lacks) and matches and not any(
            (not has or any(a in (c.get("address") or "") for a in has))
            and not any(a in (c.get("address") or "") for a in lacks) for c in matches):
        failures.append(f"address {[c.get('address') for c in matches]} lacks {has} or has {lacks}")
    for word in expect.get("description_lacks") or []:
        if any(word in (c.get("description") or "") for c in matches):
            failures.append(f"a description contains {word!r}")
    if expect.get("latlong") and not any(c.get("lat") is not None and c.get("long") is not None for c in matches):
        failures.append("no case carries the shared location")
    if expect.get("photo") and not any(c.get("media_url") for c in matches):
        failures.append("no case carries the photo")
    for pattern in expect.get("reply_has") or []:
        if not any(re.search(pattern, s) for s in said):
            failures.append(f"no answer matches {pattern!r}")
    for n, patterns in (expect.get("reply_lacks_at") or {}).items():
        answer = scripted[int(n)].text if int(n) < len(scripted) else ""
        for pattern in patterns:
            if re.search(pattern, answer):
                failures.append(f"the answer to turn {n} matches {pattern!r}")
    for pattern in expect.get("last_reply_has") or []:
        ids = [c.get("service_request_id") for c in matches or cases]
        wanted = [pattern.replace("{case}", i) for i in ids if i] if "{case}" in pattern else [pattern]
        if not said or not any(w in said[-1] for w in wanted):
            failures.append(f"the last answer lacks {pattern!r}")
    if "state" in expect and not any(c.get("state") == expect["state"] for c in cases):
        failures.append(f"no case in state {expect['state']!r} (states: {[c.get('state') for c in cases]})")
    if expect.get("linked"):
        if not any(LINKED.search(s) for s in said):
            failures.append("the bot did not say it was already reported")
        if any(c.get("state") in OPEN for c in cases):
            failures.append("the sender has an open case of their own")
    if expect.get("any_reply") and not all(t.replies and (t.text or t.buttons) for t in scripted):
        failures.append("a turn got no answer")
    return failures


async def play_all(conversations: list[dict], rasa_url: str, hub_url: str, *, api_key: str, out=sys.stdout,
                   prefix: str | None = None, default_where: str = DEFAULT_WHERE) -> list[Result]:
    from hubapi.client import HubClient

    results = []
    async with HubClient(hub_url, api_key=api_key, retries=1) as hub:
        player = Player(rasa_url, hub, prefix=prefix, default_where=default_where)
        try:
            for conv in conversations:
                result = await player.play(conv)
                results.append(result)
                print(f"{'PASS' if result.passed else 'FAIL'} {result.id}", file=out, flush=True)
                if not result.passed:
                    for f in result.failures:
                        print(f"  - {f}", file=out)
                    print(result.transcript(), file=out, flush=True)
        finally:
            await player.aclose()
    passed = sum(r.passed for r in results)
    emergencies = [r for r in results if r.emergency]
    print(f"conversations: {passed}/{len(results)} passed", file=out)
    if emergencies:
        print(f"emergencies: {sum(r.passed for r in emergencies)}/{len(emergencies)} passed", file=out)
    return results


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-dialogue", help="play a conversation set through the real dialogue and check the hub")
    p.add_argument("file", help="YAML conversation set (format: tests/dialogue/conversations.yml)")
    p.add_argument("--rasa-url", help="a running Rasa server (default: start a stack on loopback)")
    p.add_argument("--hub-url", help="the hub that Rasa's action server files to (with --rasa-url)")
    p.add_argument("--model", help="model archive for the stack it starts (default: the newest in models/)")
    p.add_argument("--only", nargs="*", help="play only these conversation ids")
    p.add_argument("--where", default=DEFAULT_WHERE,
                   help=f"the cooperative citizen's place when a conversation gives no `where` (default {DEFAULT_WHERE})")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import tempfile

    from citybot.settings import DEV_API_KEY, get_settings
    from citybot.stack import Stack, find_model

    try:
        conversations = load(args.file)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"citybot eval-dialogue: {exc}", file=sys.stderr)
        return 2
    if args.only:
        conversations = [c for c in conversations if str(c["id"]) in set(args.only)]
    api_key = get_settings().hub_api_key
    if args.rasa_url or args.hub_url:
        if not (args.rasa_url and args.hub_url):
            print("citybot eval-dialogue: give both --rasa-url and --hub-url", file=sys.stderr)
            return 2
        results = asyncio.run(play_all(conversations, args.rasa_url, args.hub_url, api_key=api_key,
                                       default_where=args.where))
    else:
        model = Path(args.model) if args.model else find_model()
        if model is None or not model.exists():
            print("citybot eval-dialogue: no trained model with the dialogue domain (run `citybot train`)",
                  file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix="eval-dialogue-") as tmp, Stack(Path(tmp), model) as stack:
            results = asyncio.run(play_all(conversations, stack.rasa_url, stack.hub_url, api_key=DEV_API_KEY,
                                           default_where=args.where))
    return 0 if all(r.passed for r in results) else 1
