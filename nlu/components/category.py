"""CategoryClassifier: decides the 大类/小类 (or 其他 + referral) of every message, with calibrated confidence.

Trained in `rasa train` from report_problem examples labelled by `metadata.subcategory` (a service code; examples
marked `metadata.intent_only` train the intent classifier only) and
from not_city_management examples (labelled 其他, split by `metadata.referral`), plus the non-report intents
listed in `other_intents` as 其他. Sets the output property `category` on every message and, when the message
is a city-management matter, a `service_code` entity whose extra keys carry category/subcategory/confidence
(so that the category reaches custom actions also as an entity). See nlu/category_model.py and docs/nlu.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import joblib
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from citybot import catalogue as cat
from nlu.category_model import OTHER, OTHER_PREFIX, CategoryModel

log = logging.getLogger(__name__)

CATEGORY = "category"
MODEL_FILE = "category.joblib"


def example_label(message: Message, other_intents: set[str], catalogue: cat.Catalogue) -> Optional[str]:
    """The training label of one example: a service code, 其他:<referral>, or None (not used)."""
    intent = message.get(INTENT)
    meta = message.get("metadata") or {}
    merged: Dict[str, Any] = {}
    if isinstance(meta, dict):
        for key in ("intent", "example"):
            if isinstance(meta.get(key), dict):
                merged.update(meta[key])
    if merged.get("intent_only"):   # intent classifier examples only (e.g. short chat openings, data/nlu/openings.yml)
        return None
    if intent == "report_problem":
        code = merged.get("subcategory") or merged.get("service_code")
        sub = catalogue.lookup(str(code)) if code else None
        if sub is None:
            return None
        return sub.code if not sub.retired else None
    if intent == "not_city_management":
        return OTHER_PREFIX + str(merged.get("referral") or "default")
    if intent in other_intents:
        return OTHER_PREFIX + "none"
    return None


def _intent_only(message: Message) -> bool:
    meta = message.get("metadata") or {}
    return isinstance(meta, dict) and any(isinstance(meta.get(k), dict) and meta[k].get("intent_only")
                                          for k in ("intent", "example"))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class CategoryClassifier(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "C": 5.0,
            "keyword_weight": 0.25,  # 3-fold and 5-fold CV on the training data: 0.25 beat 0, 0.5 and 1 (docs/nlu.md)
            "calibration_folds": 3,
            "other_intents": ["not_city_management", "greet", "goodbye", "thanks", "chitchat"],
            "service_code_entity": True,
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[CategoryModel] = None) -> None:
        self.config = config
        self._model_storage = model_storage
        self._resource = resource
        self.model = model
        self.catalogue = cat.load()

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "CategoryClassifier":
        return cls(config, model_storage, resource)

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "jieba", "scipy"]

    def train(self, training_data: TrainingData) -> Resource:
        other_intents = set(self.config["other_intents"])
        texts, labels = [], []
        skipped = 0
        for message in training_data.intent_examples:
            label = example_label(message, other_intents, self.catalogue)
            if label is None:
                skipped += message.get(INTENT) == "report_problem" and not _intent_only(message)
                continue
            texts.append(message.get(TEXT))
            labels.append(label)
        if skipped:
            log.warning("CategoryClassifier: %d report_problem examples without a valid metadata.subcategory", skipped)
        if not texts:
            log.warning("CategoryClassifier: no labelled examples; it will answer 其他 with confidence 0")
            return self._resource
        self.model = CategoryModel.train(
            texts, labels, C=float(self.config["C"]), keyword_weight=float(self.config["keyword_weight"]),
            folds=int(self.config["calibration_folds"]), catalogue=self.catalogue,
        )
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(self.model, Path(directory) / MODEL_FILE)
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "CategoryClassifier":
        model = None
        try:
            with model_storage.read_from(resource) as directory:
                model = joblib.load(Path(directory) / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            log.warning("CategoryClassifier: no trained model in the archive; every message becomes 其他")
        return cls(config, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:
        if not messages:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        if self.model is None:
            results = [{"category": OTHER, "subcategory": None, "service_code": None, "confidence": 0.0,
                        "alternatives": [], "referral": None} for _ in texts]
        else:
            results = self.model.predict(texts, self.catalogue)
        for message, result in zip(messages, results):
            message.set(CATEGORY, result, add_to_output=True)
            if self.config.get("service_code_entity") and result["service_code"]:
                entity = {
                    "entity": "service_code",
                    "start": 0,
                    "end": len(message.get(TEXT) or ""),
                    "value": result["service_code"],
                    "category": result["category"],
                    "subcategory": result["subcategory"],
                    "confidence_entity": result["confidence"],
                    "extractor": self.__class__.__name__,
                }
                message.set(ENTITIES, message.get(ENTITIES, []) + [entity], add_to_output=True)
        return messages
