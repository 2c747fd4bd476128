"""Entities found by trained Rasa models: the annotated examples of ``nlu_data/`` and everyday sentences with small
numbers in them, which must not become order numbers (run in the Rasa venv).

For each model: per entity type, precision / recall / F1 of exact ``(start, end, entity)`` matches over every
``nlu_data/`` example (examples without annotations count for precision); then, over ``SMALL_NUMBERS`` (messages
shoppers write, none of which holds an order number, a phone number or a digits-only message), how many got an
``order_id``, ``digit_run`` or ``phone`` entity; and the mean ``parse`` time per message. A model trained on
``nlu_data/`` has seen its examples (in-sample), patterns and lookups have not learned from them.

Usage (from the repository root)::

    .venv-rasa/bin/python bench/entity_check.py var/rasa/models/kefu.tar.gz [OTHER_MODEL ...]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TYPES = ("order_id", "digit_run", "phone", "product")
DIGIT_TYPES = ("order_id", "digit_run", "phone")

# none of these holds an order number (16 digits), a mobile number or digits alone
SMALL_NUMBERS = [
    "我的问题是第4个细节",
    "我的问题是第12个细节",
    "买了2件能一起退吗",
    "等了5天了还没到",
    "这是我第3次问了",
    "满200减30的优惠券怎么用",
    "优惠券满99减10用不了",
    "我买了3个耳机少发了1个",
    "7天无理由退货怎么申请",
    "快递显示已签收但是我没收到，已经过去2天了",
    "能不能48小时内发货",
    "第1件半价怎么算",
    "下午3点之前下单今天能发吗",
    "尺码买大了1号",
    "退款退了一半只有50块",
    "我有2个订单想合并发货",
    "会员积分1000分能换什么",
    "买的手机用了10天就坏了",
    "运费12块谁出",
    "那个订单号是不是20位的",
]


def load_examples() -> list[tuple[str, set[tuple[int, int, str]]]]:
    from rasa.shared.nlu.training_data.loading import load_data

    out = []
    for path in sorted((REPO / "nlu_data").glob("*.yml")):
        out.extend(_examples(load_data(str(path)).intent_examples))
    return out


def _examples(messages: list) -> list[tuple[str, set[tuple[int, int, str]]]]:
    out = []
    for message in messages:
        text = message.get("text")
        spans = {(e["start"], e["end"], e["entity"]) for e in message.get("entities") or [] if e["entity"] in TYPES}
        out.append((text, spans))
    return out


async def check(model: Path, examples: list[tuple[str, set[tuple[int, int, str]]]]) -> dict:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    await agent.parse_message("你好")  # load jieba and the featurizers before timing
    hits, gold, found = Counter(), Counter(), Counter()
    started = time.perf_counter()
    for text, spans in examples:
        parsed = await agent.parse_message(text)
        got = {(e["start"], e["end"], e["entity"]) for e in parsed.get("entities", []) if e["entity"] in TYPES}
        for span in spans:
            gold[span[2]] += 1
        for span in got:
            found[span[2]] += 1
            if span in spans:
                hits[span[2]] += 1
    parse_ms = (time.perf_counter() - started) * 1000 / len(examples)
    wrong: dict[str, list[str]] = {}
    for text in SMALL_NUMBERS:
        parsed = await agent.parse_message(text)
        tagged = [f"{e['entity']}={e['value']}" for e in parsed.get("entities", []) if e["entity"] in DIGIT_TYPES]
        if tagged:
            wrong[text] = tagged
    scores = {}
    for kind in TYPES:
        p = hits[kind] / found[kind] if found[kind] else 0.0
        r = hits[kind] / gold[kind] if gold[kind] else 0.0
        scores[kind] = (p, r, 2 * p * r / (p + r) if p + r else 0.0, gold[kind], found[kind])
    return {"scores": scores, "wrong": wrong, "parse_ms": parse_ms}


def main(models: list[str]) -> None:
    os.chdir(REPO / "bot")  # the pipeline's paths (jieba dictionary) are relative to bot/, as for `rasa run`
    examples = load_examples()
    for name in models:
        model = (REPO / name).resolve()
        result = asyncio.run(check(model, examples))
        print(f"\n## {name} ({len(examples)} examples, parse {result['parse_ms']:.1f} ms per message)\n")
        print("| entity | annotated | found | precision | recall | F1 |")
        print("| --- | --- | --- | --- | --- | --- |")
        for kind, (p, r, f1, n_gold, n_found) in result["scores"].items():
            print(f"| {kind} | {n_gold} | {n_found} | {p:.3f} | {r:.3f} | {f1:.3f} |")
        print(f"\nSentences with small numbers given a number entity: {len(result['wrong'])} of {len(SMALL_NUMBERS)}")
        for text, tagged in result["wrong"].items():
            print(f"- {text}: {', '.join(tagged)}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
