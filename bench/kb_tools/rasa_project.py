"""Write a tiny Rasa NLU project from the FAQ corpus: retrieval intents ``faq/<id>`` with responses, plus an
``out_of_scope`` intent from the same calibration negatives the hybrid's calibrator uses (a fair decline signal)."""

from __future__ import annotations

from pathlib import Path

import yaml

from knowledge_base.calibrate import load_negatives
from knowledge_base.corpus import FaqEntry

CONFIG = """recipe: default.v1
assistant_id: kb-bench-response-selector
language: zh
pipeline:
  - name: JiebaTokenizer
  - name: CountVectorsFeaturizer
    analyzer: word
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
    max_features: 6000
  - name: DIETClassifier
    epochs: {epochs}
    number_of_transformer_layers: 1
    transformer_size: 128
    embedding_dimension: 20
    constrain_similarities: true
    checkpoint_model: false
    random_seed: 42
  - name: ResponseSelector
    retrieval_intent: faq
    epochs: {epochs}
    number_of_transformer_layers: 1
    transformer_size: 128
    constrain_similarities: true
    checkpoint_model: false
    random_seed: 42
policies: []
"""


def _block(examples: list[str]) -> str:
    # Rasa's NLU examples are a YAML literal block of "- text" lines; flatten newlines and strip list markers
    return "".join(f"- {s.replace(chr(10), ' ').strip()}\n" for s in examples)


def write_project(directory: Path, entries: list[FaqEntry], negatives_file: Path | None, *, epochs: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yml").write_text(CONFIG.format(epochs=epochs), encoding="utf-8")
    nlu = [{"intent": f"faq/{e.id}", "examples": _block(e.sentences())} for e in entries]
    nlu.append({"intent": "out_of_scope", "examples": _block(load_negatives(negatives_file))})
    data = {"version": "3.1", "nlu": nlu}
    (directory / "nlu.yml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000),
                                       encoding="utf-8")
    domain = {"version": "3.1", "intents": ["faq", "out_of_scope"],
              "responses": {f"utter_faq/{e.id}": [{"text": e.answer}] for e in entries}}
    (directory / "domain.yml").write_text(yaml.safe_dump(domain, allow_unicode=True, sort_keys=False, width=1000),
                                          encoding="utf-8")
    return directory
