"""TextNormalizer: the first pipeline step. Cleans the message text before jieba sees it (see nlu.text.normalize:
NFKC, no HTML/control characters/emoji, 繁→简, at most 2,000 characters)."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.text import normalize

ORIGINAL_TEXT = "original_text"


# Registered as a message featurizer only so that the recipe runs it on training data and on every message,
# in config order, before the tokenizer; it adds no features.
@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class TextNormalizer(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"max_chars": 2000}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.max_chars = int(config.get("max_chars", 2000))

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TextNormalizer":
        return cls(config)

    def _normalize(self, message: Message, training: bool) -> None:
        text = message.get(TEXT)
        if text is None:
            return
        clean = normalize(text, self.max_chars)
        if clean == text:
            return
        # Annotated entities carry character offsets; training examples with entities stay as written.
        if training and message.get(ENTITIES):
            return
        message.set(TEXT, clean)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalize(message, training=True)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message, training=False)
        return messages
