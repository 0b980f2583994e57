"""`citybot train`, `citybot classify` and `citybot eval` as a user runs them."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

# the session fixture may train the model first (about 3 minutes)
pytestmark = [pytest.mark.rasa, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
CITYBOT = [sys.executable, "-m", "citybot.cli"]


def run(args, **kw):
    return subprocess.run(CITYBOT + args, cwd=ROOT, capture_output=True, text=True, timeout=600, **kw)


def test_train_is_a_no_op_when_up_to_date(trained_model):
    started = time.perf_counter()
    proc = run(["train"])
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
    assert time.perf_counter() - started < 30


def test_content_hash_follows_the_data(tmp_path):
    from nlu.cli import content_hash

    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "data" / "nlu" / "a.yml").write_text("x")
    before = content_hash(tmp_path)
    (tmp_path / "data" / "nlu" / "a.yml").write_text("y")
    assert content_hash(tmp_path) != before


def test_classify_reads_jsonl_and_reports_bad_lines(trained_model, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join([
            json.dumps({"id": "a", "text": "龙华区国贸路的井盖没了"}, ensure_ascii=False),
            "this is not json",
            json.dumps({"id": "b"}),
            json.dumps({"id": "c", "text": "我的社保怎么转移"}, ensure_ascii=False),
        ]) + "\n",
        encoding="utf-8",
    )
    proc = run(["classify", str(src)])
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 4
    assert rows[0]["id"] == "a" and rows[0]["category"] == "市政设施" and rows[0]["subcategory"] == "井盖缺失破损"
    assert rows[0]["location"]["district"] == "龙华区"
    assert set(rows[0]) == {"id", "category", "subcategory", "confidence", "alternatives", "location"}
    assert "error" in rows[1] and "error" in rows[2] and rows[2]["id"] == "b"
    assert rows[3]["category"] == "其他"
    assert "line 2" in proc.stderr and "line 3" in proc.stderr


def test_classify_from_stdin(trained_model):
    proc = run(["classify"], input=json.dumps({"id": 1, "text": "路灯不亮"}, ensure_ascii=False) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["category"] == "市政设施"


def test_eval_prints_figures_and_json(trained_model, tmp_path):
    src = tmp_path / "gold.jsonl"
    rows = [("井盖没了", "市政设施"), ("路边有人摆摊", "街面秩序"), ("树倒了", "园林绿化"),
            ("垃圾没人清", "市容环境"), ("社保卡怎么办", "其他"), ("路灯坏了", "其他")]
    src.write_text("\n".join(json.dumps({"text": t, "label": lab}, ensure_ascii=False) for t, lab in rows) + "\nbad\n",
                   encoding="utf-8")
    proc = run(["eval", str(src)])
    assert proc.returncode == 0, proc.stderr
    assert "macro-F1" in proc.stdout and "confusion" in proc.stdout
    proc = run(["eval", "--json", str(src)])
    report = json.loads(proc.stdout)
    assert report["n"] == 6
    assert report["per_class"]["其他"]["recall"] == 0.5  # 路灯坏了 is deliberately mislabelled
    assert report["confusion"]["其他"]["市政设施"] == 1
    assert 0 < report["macro_f1"] < 1


def test_metrics():
    from nlu.metrics import evaluate

    r = evaluate(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert r["accuracy"] == 0.75
    assert r["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert r["per_class"]["b"]["precision"] == 0.6667
    assert r["macro_f1"] == round((0.6667 + 0.8) / 2, 4)
