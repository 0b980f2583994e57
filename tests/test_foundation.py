"""The foundation: the category catalogue, masking, settings, the CLI and the package boundaries (the production
compose file: tests/test_compose.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from citybot import catalogue
from citybot.cli import build_parser
from citybot.logs import MaskingFilter
from citybot.privacy import mask, mask_name, salted_hash
from citybot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


# -- catalogue ---------------------------------------------------------------------------------------------

def test_catalogue_has_the_four_classes_each_with_at_least_six_subtypes():
    cat = catalogue.load()
    assert cat.category_names == ["市容环境", "街面秩序", "园林绿化", "市政设施"]
    assert cat.labels[-1] == catalogue.OTHER
    for c in cat.categories:
        assert len(c.subcategories) >= 6, c.name
        for s in c.subcategories:
            assert s.code.startswith(c.code + "-")
            assert s.category == c.name and s.department and s.keywords
            assert (s.time_limit.hours > 0) != (s.time_limit.days > 0)


def test_catalogue_time_limits_follow_practice():
    cat = catalogue.load()
    assert cat.by_name("暴露垃圾").time_limit == catalogue.TimeLimit(hours=4)
    assert cat.by_name("道路不洁").time_limit == catalogue.TimeLimit(hours=2)
    assert cat.by_name("私搭乱建").time_limit == catalogue.TimeLimit(days=20)
    assert cat.lookup("SZSS-01").name == "井盖缺失破损"
    assert cat.lookup("井盖缺失破损").code == "SZSS-01"
    assert cat.lookup("nonsense") is None


def test_catalogue_rejects_bad_data():
    doc = {"categories": [{"code": "A", "name": "甲", "subcategories": [
        {"code": "A-1", "name": "x", "department": "d", "time_limit": {"hours": 1, "days": 2}}]}]}
    with pytest.raises(catalogue.CatalogueError, match="exactly one"):
        catalogue.parse(doc)
    doc["categories"][0]["subcategories"][0]["time_limit"] = {"hours": 1}
    doc["categories"][0]["subcategories"].append(dict(doc["categories"][0]["subcategories"][0]))
    with pytest.raises(catalogue.CatalogueError, match="duplicate"):
        catalogue.parse(doc)


def test_referrals_have_a_default_and_emergency_line():
    cat = catalogue.load()
    assert "12345" in cat.referral(None).line
    assert "119" in cat.referral("emergency").line
    assert cat.referral("unknown-key") == cat.referral("default")


# -- privacy -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "must_not_contain"),
    [
        ("我的电话13812345678请回电", "12345678"),
        ("联系+86 138-1234-5678", "1234-5678"),
        ("座机0898-66668888", "66668888"),
        ("身份证460100199001011234", "19900101"),
        ("车牌琼A65708一直违停", "65708"),
        ("粤B·8X8X8 停在门口", "8X8X8"),
        ("电话１３８１２３４５６７８", "１２３４５６７８"),
        ("手机138.1234.5678", "1234.5678"),
        ("请拨(0898)66668888", "66668888"),
        ("（０７５５）８８８８－６６６６", "８８８８－６６６６"),
        ("+86 10 6552 9988 找物业", "6552 9988"),
        ("0086 13812345678", "12345678"),
        ("联系电话 8888 6666", "8888 6666"),
        ("来电号码一三八一二三四五六七八", "一二三四五六七八"),
        ("身份证 4403 0119 9001 0112 34", "9001 0112"),
        ("邮箱 zhang.san@example.com", "zhang.san"),
        ("王先生反映门口有垃圾", "王先生"),
        ("张女士说", "张女士"),
        ("欧阳先生", "欧阳"),
        ("联系人李小明，电话见附件", "李小明"),
        ("姓名：赵四", "赵四"),
        ("我叫孙悟空", "孙悟空"),
    ],
)
def test_mask_hides_personal_data(raw, must_not_contain):
    assert must_not_contain not in mask(raw)


@pytest.mark.parametrize("text", [
    "人民路128号门口井盖没了，案件20261124000123",
    "2026-03-02 14:00 发现，营业时间8:00-20:00，每份12.5元",
    "福田区深南大道6008号2栋301室，编号20260302",
    "各位先生女士，这里的路灯坏了三天",
    "已派遣至区环境卫生管理所，预计3月10日15:10前处置",
])
def test_mask_keeps_ordinary_text_and_case_numbers(text):
    assert mask(text) == text


def test_mask_keeps_the_shape_of_a_number():
    assert mask("我的电话13812345678请回电") == "我的电话138****5678请回电"
    assert mask("１３８１２３４５６７８") == "１３８****５６７８"
    assert mask("身份证460100199001011234") == "身份证460100********1234"
    assert mask("座机0898-66668888") == "座机0898-******88"
    assert mask("王先生") == "*先生" and mask("联系人张三") == "联系人张*"
    assert mask(mask("电话 138-1234-5678")) == mask("电话 138-1234-5678")  # masking twice changes nothing
    assert mask_name("张三丰") == "张**" and mask_name("欧阳修") == "欧阳*"
    assert mask("") == ""


def test_salted_hash_is_stable_and_salted():
    a = salted_hash("138 1234 5678", "s1")
    assert a == salted_hash("+8613812345678", "s1") == salted_hash("１３８１２３４５６７８", "s1")
    assert a != salted_hash("13812345678", "s2")
    assert "13812345678" not in a


def test_log_records_are_masked(caplog):
    logger = logging.getLogger("citybot.test")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("caller %s reported", "13812345678")
        try:
            raise ValueError("bad row: 联系人王小二 (0898)66668888 zhang@example.com")
        except ValueError:
            logger.exception("insert failed for %s", "王先生")
    assert "13812345678" not in caplog.text and "138****5678" in caplog.text
    for secret in ("王小二", "66668888", "zhang@", "王先生"):
        assert secret not in caplog.text
    assert "ValueError: bad row" in caplog.text  # the traceback is kept, masked


# -- settings and CLI --------------------------------------------------------------------------------------

def test_settings_defaults_are_embedded(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    s = Settings()
    assert s.resolved_hub_database_url.startswith("sqlite:///")
    assert s.hub_api_key in s.hub_api_keys.split(",")
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql+psycopg2://u@h/db")
    assert Settings().resolved_hub_database_url == "postgresql+psycopg2://u@h/db"


def test_settings_read_a_dotenv_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HUB_PORT=9999\n", encoding="utf-8")
    assert Settings().hub_port == 9999


def test_cli_lists_its_subcommands():
    help_text = build_parser().format_help()
    for command in ("run", "hub", "train", "classify", "eval"):
        assert command in help_text


# -- boundaries ------------------------------------------------------------------------------------------------

def test_channels_talk_to_the_hub_only_through_its_interface_package():
    """bot/, actions/, hotline/ and hubapi/ never import the reference hub's own modules (hub/): a city may run
    its own hub, and the seam between the two is hubapi."""
    import ast

    from tests.pyast import parse_file

    offenders = []
    for package in ("bot", "actions", "hotline", "hubapi", "citybot", "nlu"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(parse_file(path)):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "hub" or n.startswith("hub.")]
    assert offenders == []
