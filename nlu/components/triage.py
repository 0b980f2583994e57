"""Triage: the last pipeline step. Danger to people overrides the intent with `emergency` and adds the output
property `emergency` {kinds, lines, evidence, source}; the category model corrects the intent where the two
classifiers disagree (nlu/triage.py has the rules and why)."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from citybot import catalogue as cat
from nlu import triage

EMERGENCY = "emergency"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class Triage(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    def __init__(self) -> None:
        self.catalogue = cat.load()

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "Triage":
        return cls()

    def _keywords(self, category: Any) -> tuple[str, ...]:
        code = category.get("service_code") if isinstance(category, dict) else None
        sub = self.catalogue.by_code(code) if code else None
        return (sub.name, *sub.keywords) if sub else ()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            new, emergency = triage.decide(message.get(TEXT) or "", intent.get(INTENT_NAME_KEY),
                                           float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0),
                                           message.get("category"), message.get("intent_ranking"),
                                           message.get("location"), self._keywords(message.get("category")))
            if new and new != intent.get(INTENT_NAME_KEY):
                message.set(INTENT, {INTENT_NAME_KEY: new, PREDICTED_CONFIDENCE_KEY: 1.0,
                                     "triage": intent.get(INTENT_NAME_KEY)}, add_to_output=True)
            message.set(EMERGENCY, emergency, add_to_output=True)
        return messages
