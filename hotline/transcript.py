"""From a call record to the caller's complaint: skip the agent's greetings and boilerplate.

Hotline agents open and close every call the same way ("您好，12345热线…", "感谢您的来电"); callers answer
name and phone questions. None of that says what the problem is, and all of it confuses a classifier.
"""

from __future__ import annotations

import re

from hotline.records import CallRecord, Turn

# Whole utterances that carry no complaint (greetings, acknowledgements, identity questions, closings).
_NOISE = re.compile(
    r"^(?:喂+|你好|您好|哦+|嗯+|啊+|好的?|对+|是的?|没有了?|没了|谢谢(?:你|您)?|再见|拜拜|行|可以|知道了|麻烦(?:你|您)?了)$"
)
# Clause boundaries inside one utterance ("喂，你好。我要反映…" is two clauses of noise and one of complaint).
_CLAUSE = re.compile(r"[，,。.!！?？~～；;\s]+")
# Agent boilerplate, matched anywhere in an agent utterance.
_AGENT_BOILERPLATE = re.compile(
    r"(?:\d{5}|热线|工号|请讲|有什么可以帮|请问您?贵姓|怎么称呼|联系电话|联系方式|感谢(?:您的)?来电|还有其他|"
    r"我们会|帮您转|转交|登记|记录下来|稍等|为您服务|请问还有)"
)
# Caller utterances that only answer identity questions.
_CALLER_IDENTITY = re.compile(r"^(?:我)?(?:姓|叫|是)[\u4e00-\u9fa5]{1,3}[，,。]?$|^(?:我的?)?(?:电话|手机|号码)(?:是|号)?[\d\s\-*]+[。]?$")
# Speaker prefixes in plain-text transcripts.
_SPEAKER = re.compile(r"^\s*(坐席|话务员|客服|接线员|agent|市民|来电人|来电者|caller)\s*[：:]\s*", re.IGNORECASE)
_AGENT_NAMES = {"坐席", "话务员", "客服", "接线员", "agent"}


def turns_from_text(text: str) -> tuple[Turn, ...] | None:
    """Split a plain-text transcript with speaker prefixes into turns; None when it has no prefixes."""
    turns: list[Turn] = []
    for line in re.split(r"[\r\n]+", text):
        m = _SPEAKER.match(line)
        if m:
            speaker = "agent" if m.group(1).lower() in _AGENT_NAMES else "caller"
            turns.append(Turn(speaker, line[m.end():].strip()))
        elif turns and line.strip():
            turns[-1] = Turn(turns[-1].speaker, turns[-1].text + line.strip())
    return tuple(turns) if turns else None


def _caller_text(turns: tuple[Turn, ...]) -> str:
    parts = []
    for turn in turns:
        text = turn.text.strip()
        if turn.speaker != "caller" or not text or _CALLER_IDENTITY.match(text):
            continue
        clauses = [c for c in _CLAUSE.split(text) if c and not _NOISE.match(c)]
        if clauses:
            parts.append("，".join(clauses))
    return "。".join(parts)


def complaint(record: CallRecord) -> str:
    """The text to classify and file: the agent's summary when there is one, else what the caller said."""
    if record.summary:
        return record.summary
    turns = record.turns or (turns_from_text(record.text) if record.text else None)
    if turns:
        said = _caller_text(turns)
        if said:
            return said
        # A call where only the agent described the problem: keep the agent's non-boilerplate lines.
        return "，".join(t.text.strip() for t in turns
                        if t.speaker == "agent" and t.text.strip() and not _AGENT_BOILERPLATE.search(t.text))
    return (record.text or "").strip()


def full_text(record: CallRecord) -> str:
    """Everything said in the call, agent included (where the complaint alone names no place)."""
    turns = record.turns or (turns_from_text(record.text) if record.text else None)
    said = "，".join(t.text.strip() for t in turns if t.text.strip()) if turns else (record.text or "")
    return "，".join(p for p in (record.summary, said) if p)
