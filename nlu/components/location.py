"""LocationExtractor: a Rasa entity extractor around nlu.location (spaCy blank zh + jieba + gazetteer).

Adds one `location` entity per place span, the main place first (value = the span text; extra keys city/district/
road/cross_road/number/landmark/position/subdistrict) and the message output property `location` (the main place,
or None).
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from nlu import location as loc

LOCATION = "location"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LocationExtractor(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"entity": LOCATION}

    def __init__(self, config: Dict[Text, Any], extractor: loc.LocationExtractor) -> None:
        self.entity = config.get("entity", LOCATION)
        self.extractor = extractor

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LocationExtractor":
        return cls(config, loc.build())

    @staticmethod
    def required_packages() -> List[Text]:
        return ["spacy", "jieba"]

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            # the pipeline's JiebaTokenizer has segmented the text with the same dictionary: reuse its tokens
            tokens = message.get(TOKENS_NAMES[TEXT])
            found = self.extractor.extract(text, [(t.text, t.start) for t in tokens] if tokens else None)
            entities = []
            for place in found:
                entity = {
                    "entity": self.entity,
                    "start": place["start"],
                    "end": place["end"],
                    "value": place["text"],
                    "confidence_entity": 1.0,
                }
                entity.update({k: v for k, v in place.items() if v and k not in ("start", "end", "text")})
                entities.append(entity)
            if entities:
                entities = self.add_extractor_name(entities)
                message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
            best = {k: v for k, v in found[0].items() if k not in ("start", "end")} if found else None
            message.set(LOCATION, best, add_to_output=True)
        return messages
