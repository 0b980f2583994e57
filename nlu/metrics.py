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
