"""The one filing decision (citybot/filing.py) that the chat's submit action and the hotline both use."""

from citybot import filing as filings


def _cat(code="SZSS-01", confidence=0.9, second=0.05, category="市政设施"):
    return {"category": category, "service_code": code, "confidence": confidence,
            "alternatives": [{"service_code": code, "confidence": confidence},
                             {"service_code": "SZSS-02", "confidence": second}]}


def test_decide_files_a_sure_city_management_report():
    assert filings.decide(_cat()) == filings.FILE


def test_decide_asks_when_unsure_or_when_two_subcategories_are_close():
    assert filings.decide(_cat(confidence=0.5, second=0.1)) == filings.ASK
    assert filings.decide(_cat(confidence=0.7, second=0.6)) == filings.ASK


def test_decide_refers_what_is_not_city_management():
    assert filings.decide({"category": "其他", "service_code": None, "referral": "12345"}) == filings.REFER
    assert filings.decide(None) == filings.REFER
    assert filings.decide({"category": "市政设施"}) == filings.REFER  # no 小类: nothing to file under


def test_place_text_puts_the_district_in_front_once():
    assert filings.place_text({"text": "新闻路中间", "district": "福田区"}) == "福田区新闻路中间"
    assert filings.place_text({"text": "福田区新闻路", "district": "福田区"}) == "福田区新闻路"
    assert filings.place_text({"text": "  "}) is None
    assert filings.place_text(None) is None
    assert filings.place_text("岗厦地铁站B出口") == "岗厦地铁站B出口"


def test_make_masks_the_description_and_marks_a_report_without_a_place():
    f = filings.make(code="SZSS-01", description="井盖没了，联系我13812345678", channel="hotline", external_id="c1")
    assert "13812345678" not in f.description and "井盖没了" in f.description
    assert f.needs_place and f.address is None
    located = filings.make(code="SZSS-01", description="x", lat=22.5, long=114.0, channel="chat", external_id="c2")
    assert not located.needs_place
    long = filings.make(code="SZSS-01", description="坑" * 9000, address="红荔路", channel="chat", external_id="c3")
    assert len(long.description) == filings.MAX_DESCRIPTION and not long.needs_place


def test_contact_goes_only_when_given():
    f = filings.make(code="SZSS-01", description="x", address="红荔路", channel="chat", external_id="c4",
                     contact={"first_name": "张", "phone": "13812345678", "other": "ignored"})
    assert (f.first_name, f.phone) == ("张", "13812345678")
    assert filings.make(code="SZSS-01", description="x", address="红荔路", channel="chat",
                        external_id="c5").phone is None
