"""Classification figures for `citybot eval`: accuracy, macro-F1, per-class precision/recall/F1, confusion."""

from __future__ import annotations


def evaluate(gold: list[str], predicted: list[str], labels: list[str]) -> dict:
    labels = list(labels) + sorted({*gold, *predicted} - set(labels))
    confusion = {g: {p: 0 for p in labels} for g in labels}
    for g, p in zip(gold, predicted):
        confusion[g][p] += 1
    per_class = {}
    for label in labels:
        tp = confusion[label][label]
        support = sum(confusion[label].values())
        predicted_n = sum(confusion[g][label] for g in labels)
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                            "support": support}
    present = [label for label in labels if per_class[label]["support"]]
    n = len(gold)
    return {
        "n": n,
        "accuracy": round(sum(g == p for g, p in zip(gold, predicted)) / n, 4) if n else 0.0,
        "macro_f1": round(sum(per_class[label]["f1"] for label in present) / len(present), 4) if present else 0.0,
        "per_class": per_class,
        "labels": labels,
        "confusion": confusion,
    }


def render(report: dict) -> str:
    labels = report["labels"]
    lines = [f"examples {report['n']}   accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}", ""]
    lines.append(f"{'class':<8}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>9}")
    for label in labels:
        c = report["per_class"][label]
        lines.append(f"{label:<8}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}{c['support']:>9}")
    lines += ["", "confusion (rows = gold, columns = predicted)", " " * 10 + "".join(f"{p:>8}" for p in labels)]
    for g in labels:
        lines.append(f"{g:<8}  " + "".join(f"{report['confusion'][g][p]:>10}" for p in labels))
    return "\n".join(lines)


# -- 小类 and places ----------------------------------------------------------------------------------------------
def subcategory_accuracy(gold: list[str], predicted: list[str | None]) -> dict:
    """Share of records whose predicted 小类 (by name) equals the gold one, and the most frequent confusions."""
    from collections import Counter

    n = len(gold)
    right = sum(g == p for g, p in zip(gold, predicted))
    confusions = Counter((g, p or "其他") for g, p in zip(gold, predicted) if g != p)
    return {"n": n, "accuracy": round(right / n, 4) if n else 0.0,
            "confusions": [{"gold": g, "predicted": p, "count": c} for (g, p), c in confusions.most_common(10)]}


_PLACE_PUNCT = set(" ，,。、；;：:！!？?（）()“”\"'·-—")


def _place_chars(text: str) -> str:
    return "".join(c for c in text if c not in _PLACE_PUNCT)


def place_f1(predicted: str, span: str) -> float:
    """Character-bag F1 between a predicted place text and a gold span (the eval README's rule)."""
    from collections import Counter

    p, g = Counter(_place_chars(predicted or "")), Counter(_place_chars(span or ""))
    overlap = sum(min(count, g[c]) for c, count in p.items())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def place_scores(gold: list[dict], predicted: list[str | None], threshold: float = 0.6) -> dict:
    """gold: {"spans": [...], "none": bool} per record; predicted: the place text found (None when none).
    right = best F1 >= threshold; right, found and mean best F1 are over the records that name a place."""
    named = [(g, p) for g, p in zip(gold, predicted) if not g.get("none") and g.get("spans")]
    n = len(named)
    best = [max((place_f1(p or "", s) for s in g["spans"]), default=0.0) for g, p in named]
    none_records = [p for g, p in zip(gold, predicted) if g.get("none")]
    return {
        "n": n,
        "right": round(sum(b >= threshold for b in best) / n, 4) if n else 0.0,
        "found": round(sum(bool(p) for _, p in named) / n, 4) if n else 0.0,
        "mean_f1": round(sum(best) / n, 4) if n else 0.0,
        "none_records": len(none_records),
        "place_on_none": sum(bool(p) for p in none_records),
    }


def render_extra(report: dict) -> str:
    lines = []
    sub = report.get("subcategory")
    if sub:
        lines += ["", f"小类 accuracy {sub['accuracy']:.4f} over {sub['n']} records"]
        lines += [f"  {c['gold']} -> {c['predicted']}: {c['count']}" for c in sub["confusions"]]
    places = report.get("places")
    if places:
        lines += ["", f"places over {places['n']} records that name one: right {places['right']:.4f}   "
                      f"found {places['found']:.4f}   mean F1 {places['mean_f1']:.4f}"
                      f"   (a place given for {places['place_on_none']} of {places['none_records']} that name none)"]
    return "\n".join(lines)
