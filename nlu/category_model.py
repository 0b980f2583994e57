"""The category model: TF-IDF over jieba words and character 1–3-grams (hotline boilerplate stripped) plus
catalogue-keyword hits, a linear SVM over 小类 service codes and 其他 (split by referral), and a
temperature fitted on cross-validated logits so that the probabilities are calibrated.

大类 probability = sum of its 小类 probabilities; 其他 = sum of the 其他:<referral> labels. Needs scikit-learn
(.venv-rasa); the Rasa component nlu.components.category wraps it.

"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, Pipeline

from citybot import catalogue as cat
from nlu.text import normalize, strip_boilerplate

log = logging.getLogger(__name__)

OTHER = cat.OTHER
OTHER_PREFIX = OTHER + ":"
_NON_WORD = re.compile(r"^[\W_]+$")


def clean(text: str) -> str:
    return strip_boilerplate(normalize(text))


def words(text: str) -> list[str]:
    """jieba words of the cleaned text (global jieba; the pipeline's JiebaTokenizer has loaded the user dict)."""
    import jieba

    return [w for w in jieba.lcut(text) if w.strip() and not _NON_WORD.match(w)]


class KeywordHits(BaseEstimator, TransformerMixin):
    """One column per 小类: how many of its catalogue keywords occur in the text (capped at 2)."""

    def __init__(self, keywords: dict[str, list[str]] | None = None, weight: float = 1.0):
        self.keywords = keywords
        self.weight = weight

    def fit(self, X, y=None):
        self.columns_ = sorted(self.keywords or {})
        return self

    def transform(self, X):
        rows, cols, vals = [], [], []
        for i, text in enumerate(X):
            for j, code in enumerate(self.columns_):
                n = sum(1 for k in self.keywords[code] if k in text)
                if n:
                    rows.append(i), cols.append(j), vals.append(self.weight * min(n, 2) / 2)
        return sparse.csr_matrix((vals, (rows, cols)), shape=(len(X), len(self.columns_)))


def build_pipeline(keywords: dict[str, list[str]], C: float = 5.0, keyword_weight: float = 0.25) -> Pipeline:
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(analyzer=words, sublinear_tf=True, min_df=1)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=2, max_features=200000)),
            ("keywords", KeywordHits(keywords, keyword_weight)),
        ]
    )
    # A linear SVM trains in a second on thousands of messages (multinomial LR took ~40 s); its margins become
    # probabilities through the fitted temperature below.
    clf = LinearSVC(C=C, class_weight="balanced")
    return Pipeline([("features", features), ("clf", clf)])


def fit_temperature(logits: np.ndarray, y_index: np.ndarray) -> float:
    def nll(t: float) -> float:
        return -log_softmax(logits / t, axis=1)[np.arange(len(y_index)), y_index].mean()

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


@dataclass
class CategoryModel:
    pipeline: Pipeline
    temperature: float
    labels: list[str]  # service codes and 其他:<referral>

    @classmethod
    def train(cls, texts: list[str], labels: list[str], *, C: float = 5.0, keyword_weight: float = 0.25,
              folds: int = 3, catalogue: cat.Catalogue | None = None) -> "CategoryModel":
        catalogue = catalogue or cat.load()
        keywords = {s.code: list(s.keywords) + [s.name] for s in catalogue.subcategories()}
        # catalogue keywords and names double as (short) training examples for every 小类
        texts, labels = list(texts), list(labels)
        for code, kws in keywords.items():
            texts += kws
            labels += [code] * len(kws)
        cleaned = [clean(t) for t in texts]
        y = np.array(labels)
        pipeline = build_pipeline(keywords, C, keyword_weight)
        temperature = 1.0
        counts = {label: int((y == label).sum()) for label in set(labels)}
        if folds >= 2 and min(counts.values()) >= folds and len(counts) > 1:
            cv = StratifiedKFold(folds, shuffle=True, random_state=0)
            logits = cross_val_predict(pipeline, cleaned, y, cv=cv, method="decision_function")
            classes = np.array(sorted(counts))
            temperature = fit_temperature(logits, np.searchsorted(classes, y))
            accuracy = float((classes[logits.argmax(1)] == y).mean())
            log.info("category model: %d examples, %d labels, cv accuracy %.3f, temperature %.3f",
                     len(y), len(counts), accuracy, temperature)
        else:
            rare = [label for label, n in counts.items() if n < folds]
            log.warning("category model: no calibration (labels with fewer than %d examples: %s)", folds, rare[:10])
        pipeline.fit(cleaned, y)
        return cls(pipeline, temperature, list(pipeline.classes_))

    def predict(self, texts: list[str], catalogue: cat.Catalogue | None = None) -> list[dict]:
        catalogue = catalogue or cat.load()
        cleaned = [clean(t) for t in texts]
        # FeatureUnion.transform goes through joblib (≈2 ms a call); stacking the parts directly is the same matrix.
        union = self.pipeline.named_steps["features"]
        X = sparse.hstack([part.transform(cleaned) for _, part in union.transformer_list], format="csr")
        logits = self.pipeline.named_steps["clf"].decision_function(X)
        if logits.ndim == 1:  # two labels only
            logits = np.stack([-logits, logits], axis=1) / 2
        probs = softmax(logits / self.temperature, axis=1)
        return [self._decide(p, X[i].nnz == 0, catalogue) for i, p in enumerate(probs)]

    def _decide(self, probs: np.ndarray, empty: bool, catalogue: cat.Catalogue) -> dict:
        if empty:  # nothing the model knows (emoji, empty, foreign script): not a city-management matter
            return {"category": OTHER, "subcategory": None, "service_code": None, "confidence": 0.0,
                    "alternatives": [], "referral": None}
        by_category: dict[str, float] = {}
        entries = []  # (probability, category, subcategory, code)
        other_p, referral, referral_p = 0.0, None, -1.0
        for label, p in zip(self.labels, probs):
            p = float(p)
            if label.startswith(OTHER_PREFIX) or label == OTHER:
                other_p += p
                ref = label[len(OTHER_PREFIX):] or None
                if p > referral_p:
                    referral, referral_p = (None if ref in (None, "none") else ref), p
                continue
            sub = catalogue.by_code(label)
            if sub is None or sub.retired:
                other_p += p
                continue
            by_category[sub.category] = by_category.get(sub.category, 0.0) + p
            entries.append((p, sub.category, sub.name, sub.code))
        by_category[OTHER] = other_p
        entries.append((other_p, OTHER, None, None))
        category = max(by_category, key=by_category.get)
        entries.sort(key=lambda e: -e[0])
        top_sub = next((e for e in entries if e[1] == category), (0.0, category, None, None))
        alternatives = [
            {"category": c, "subcategory": s, "service_code": code, "confidence": round(p, 4)}
            for p, c, s, code in entries[:3]
        ]
        return {
            "category": category,
            "subcategory": top_sub[2],
            "service_code": top_sub[3],
            "confidence": round(by_category[category], 4),
            "alternatives": alternatives,
            "referral": referral if category == OTHER else None,
        }
