"""External NLU benchmark: Rasa pipelines trained and tested on public Chinese SLU data sets (issue 2).

For each data set (SMP2020-ECDT-NLU, CAIS) the published files are converted to Rasa NLU YAML under
``var/nlu_bench/<set>/``; every pipeline in ``bench/nlu_configs/*.yml`` is trained with ``rasa train nlu`` on the
train split and evaluated on the test split by loading the model with ``rasa.core.agent.Agent`` in the Rasa venv and
parsing each test sentence. The script prints a markdown table (train minutes, intent accuracy, macro-F1, parse ms).

Usage (from the repository root, app venv)::

    .venv/bin/python bench/nlu_bench.py [--quick] [--sets smp2020,cais] [--configs a,b] [--retrain]

Converted data and trained models are reused; ``--retrain`` forces training again. The same file is run by the Rasa
venv's Python with ``--evaluate`` (internal), so the module only imports the standard library at top level.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(
    os.environ.get("KEFU_DATASETS") or os.environ.get("KEFU_DATASETS_DIR") or REPO.parent / "shared" / "datasets"
)
OUT = REPO / "var" / "nlu_bench"
CONFIG_DIR = REPO / "bench" / "nlu_configs"
RASA_BIN = REPO / ".venv-rasa" / "bin"
CONVERTER_VERSION = "1"  # bump when the conversion changes, so converted files are rewritten

# The configs run by --quick (fast ones, to see the scale before longer runs).
QUICK_CONFIGS = ("lr_diet_entities",)

# Reference figures, not measured in this run (see bench/RESULTS.md).
REFERENCES = (
    "| SMP2019 (published) | MITIE + jieba (Rasa) | - | - | intent F1 0.78 | - |",
    "| SMP2020 (earlier run, reference) | jieba + LexSyn + CV words + CV char_wb 1-4 + DIET 100 ep "
    "| 25-38 | 0.923 | 0.907 | - |",
)


@dataclass
class Example:
    """One utterance with its intent and character-offset entities (end exclusive, as in Rasa)."""

    text: str
    intent: str
    entities: list[tuple[int, int, str]] = field(default_factory=list)


# ---------------------------------------------------------------- converters


def _clean_entities(text: str, spans: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop empty, out-of-range, duplicate and overlapping spans; Rasa cannot represent overlapping entities.

    Longer spans win an overlap (SMP2020 marks e.g. both 克 and 千克 in 多少克是1千克).
    """
    kept: list[tuple[int, int, str]] = []
    for start, end, label in sorted(set(spans), key=lambda s: (-(s[1] - s[0]), s[0], s[2])):
        if not (0 <= start < end <= len(text)) or not text[start:end].strip():
            continue
        if any(start < k_end and k_start < end for k_start, k_end, _ in kept):
            continue
        kept.append((start, end, label))
    return sorted(kept)


def smp2020_example(item: dict) -> Example:
    """Convert one item of SMP2020 ``train/dev/test.json`` (``end_idx`` is inclusive there)."""
    text = item["text"]
    stripped = text.lstrip()
    shift = len(text) - len(stripped)
    stripped = stripped.rstrip()
    spans = [(e["start_idx"] - shift, e["end_idx"] + 1 - shift, e["type"]) for e in item.get("entities", [])]
    return Example(stripped, item["intent"], _clean_entities(stripped, spans))


def load_smp2020(root: Path) -> dict[str, list[Example]]:
    """SMP2020-ECDT-NLU 8:1:1 split; the intent label is the files' ``intent`` field (59 labels)."""
    splits: dict[str, list[Example]] = {}
    for split in ("train", "dev", "test"):
        items = json.loads((root / f"{split}.json").read_text(encoding="utf-8"))
        splits[split] = [smp2020_example(item) for item in items]
    return splits


def bioes_utterance(rows: Sequence[tuple[str, str]], intent: str) -> Example:
    """Turn ``(character, tag)`` rows with BIOES (or BIO) tags into one example with entity spans."""
    text = "".join(char for char, _ in rows)
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    label = ""
    for i, (_, tag) in enumerate(rows):
        prefix, _, tag_label = tag.partition("-")
        if prefix in ("B", "S") or (prefix in ("I", "E") and (start is None or tag_label != label)):
            if start is not None:
                spans.append((start, i, label))
            start, label = i, tag_label
        elif prefix == "O":
            if start is not None:
                spans.append((start, i, label))
            start = None
        if prefix in ("E", "S") and start is not None:
            spans.append((start, i + 1, label))
            start = None
    if start is not None:
        spans.append((start, len(rows), label))
    stripped = text.lstrip()
    shift = len(text) - len(stripped)
    stripped = stripped.rstrip()
    return Example(stripped, intent, _clean_entities(stripped, [(s - shift, e - shift, lab) for s, e, lab in spans]))


def parse_bioes_lines(lines: Iterable[str]) -> list[list[tuple[str, str]]]:
    """Split CAIS ``ch.<split>`` lines (``char TAG``, blank line between utterances) into utterances.

    The character may itself be a space (line ``"  O"``), hence the split on the last space only.
    """
    utterances: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            if current:
                utterances.append(current)
                current = []
            continue
        char, _, tag = line.rpartition(" ")
        current.append((char or " ", tag))
    if current:
        utterances.append(current)
    return utterances


def load_cais(root: Path) -> dict[str, list[Example]]:
    """CAIS official splits: ``ch.<split>`` (BIOES characters) aligned with ``ch.<split>.intent``."""
    splits: dict[str, list[Example]] = {}
    for split in ("train", "valid", "test"):
        utterances = parse_bioes_lines((root / f"ch.{split}").read_text(encoding="utf-8").splitlines())
        intents = [
            i.strip() for i in (root / f"ch.{split}.intent").read_text(encoding="utf-8").splitlines() if i.strip()
        ]
        if len(utterances) != len(intents):
            raise ValueError(f"CAIS {split}: {len(utterances)} utterances but {len(intents)} intents")
        splits["dev" if split == "valid" else split] = [
            bioes_utterance(u, i) for u, i in zip(utterances, intents, strict=True)
        ]
    return splits


LOADERS = {"smp2020": ("SMP2020-ECDT-NLU", load_smp2020), "cais": ("CAIS", load_cais)}


def annotate(example: Example) -> str:
    """Rasa YAML example text with ``[value](entity)`` annotations; ASCII brackets become full-width to stay literal."""
    text = example.text.replace("[", "［").replace("]", "］")
    out: list[str] = []
    pos = 0
    for start, end, label in example.entities:
        out.append(text[pos:start])
        out.append(f"[{text[start:end]}]({label})")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def to_rasa_yaml(examples: Sequence[Example]) -> str:
    """Rasa 3 NLU training data (``version: "3.1"``), one ``- intent:`` block per label."""
    by_intent: dict[str, list[str]] = {}
    for example in examples:
        by_intent.setdefault(example.intent, []).append(annotate(example))
    lines = ['version: "3.1"', "nlu:"]
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {text}" for text in by_intent[intent])
    return "\n".join(lines) + "\n"


def convert(name: str, datasets: Path = DATASETS, out: Path = OUT) -> Path:
    """Write ``train.yml``, ``test.yml`` and ``test.jsonl`` for one set, unless already converted."""
    folder, loader = LOADERS[name]
    target = out / name
    stamp = target / f".converted-v{CONVERTER_VERSION}"
    if stamp.exists():
        return target
    splits = loader(datasets / folder)
    target.mkdir(parents=True, exist_ok=True)
    (target / "train.yml").write_text(to_rasa_yaml(splits["train"]), encoding="utf-8")
    (target / "test.yml").write_text(to_rasa_yaml(splits["test"]), encoding="utf-8")
    with (target / "test.jsonl").open("w", encoding="utf-8") as fh:
        for example in splits["test"]:
            row = {"text": example.text, "intent": example.intent, "entities": [list(e) for e in example.entities]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    stamp.write_text(json.dumps({s: len(v) for s, v in splits.items()}), encoding="utf-8")
    return target


# ---------------------------------------------------------------- metrics


def intent_metrics(gold: Sequence[str], predicted: Sequence[str | None]) -> tuple[float, float]:
    """Accuracy and macro-F1 averaged over the intents present in the gold test labels."""
    if not gold or len(gold) != len(predicted):
        raise ValueError("gold and predicted must be non-empty and of equal length")
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    f1s = []
    for label in sorted(set(gold)):
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return accuracy, sum(f1s) / len(f1s)


def entity_micro_f1(gold: Sequence[Iterable[Sequence]], predicted: Sequence[Iterable[Sequence]]) -> float:
    """Micro-F1 of exact ``(start, end, type)`` entity matches over all test sentences."""
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, predicted, strict=True):
        g_set, p_set = {tuple(e) for e in g}, {tuple(e) for e in p}
        tp += len(g_set & p_set)
        n_gold += len(g_set)
        n_pred += len(p_set)
    return 2 * tp / (n_gold + n_pred) if n_gold + n_pred else 0.0


# ---------------------------------------------------------------- training and evaluation


def _rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    # No telemetry; no training cache, otherwise a retrain reuses cached featurizers and its wall time means nothing.
    env.update(RASA_TELEMETRY_ENABLED="false", RASA_MAX_CACHE_SIZE="0", TF_CPP_MIN_LOG_LEVEL="2")
    env["RASA_CACHE_DIRECTORY"] = str(OUT / ".rasa-cache")
    return env


def train(set_dir: Path, config: Path, *, retrain: bool) -> dict:
    """Train one model with ``rasa train nlu``; returns wall and CPU minutes (cached in ``train.json``)."""
    run_dir = set_dir / "runs" / config.stem
    model = run_dir / "model.tar.gz"
    info_file = run_dir / "train.json"
    if model.exists() and info_file.exists() and not retrain:
        return json.loads(info_file.read_text(encoding="utf-8"))
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        "nice", "-n", "15", str(RASA_BIN / "rasa"), "train", "nlu", "--config", str(config),
        "--nlu", str(set_dir / "train.yml"), "--out", str(run_dir), "--fixed-model-name", "model",
        "--num-threads", "2", "--quiet",
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with (run_dir / "train.log").open("w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, cwd=run_dir, env=_rasa_env(), stdout=log, stderr=subprocess.STDOUT, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not model.exists():
        raise RuntimeError(f"training {config.stem} on {set_dir.name} failed, see {run_dir / 'train.log'}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    info = {"train_min": wall / 60, "train_cpu_min": cpu / 60, "loadavg_after": os.getloadavg()[0]}
    info_file.write_text(json.dumps(info), encoding="utf-8")
    return info


def evaluate(set_dir: Path, config: Path) -> dict:
    """Parse every test sentence with the trained model (Rasa venv subprocess) and score the intents."""
    run_dir = set_dir / "runs" / config.stem
    result_file = run_dir / "eval.json"
    model = run_dir / "model.tar.gz"
    if result_file.exists() and result_file.stat().st_mtime > model.stat().st_mtime:
        return json.loads(result_file.read_text(encoding="utf-8"))
    predictions = run_dir / "predictions.jsonl"
    cmd = [
        "nice", "-n", "15", str(RASA_BIN / "python"), str(Path(__file__).resolve()), "--evaluate",
        str(run_dir / "model.tar.gz"), str(set_dir / "test.jsonl"), str(predictions),
    ]  # fmt: skip
    with (run_dir / "eval.log").open("w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, env=_rasa_env(), stdout=log, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"evaluating {config.stem} on {set_dir.name} failed, see {run_dir / 'eval.log'}")
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    accuracy, macro_f1 = intent_metrics([r["intent"] for r in rows], [r["predicted"] for r in rows])
    latencies = sorted(r["ms"] for r in rows)
    result = {
        "n_test": len(rows),
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "entity_f1": entity_micro_f1([r["entities"] for r in rows], [r["predicted_entities"] for r in rows]),
        "parse_ms_median": latencies[len(latencies) // 2],
        "parse_ms_p95": latencies[int(len(latencies) * 0.95)],
    }
    result_file.write_text(json.dumps(result), encoding="utf-8")
    return result


def _evaluate_in_rasa(model: str, test_file: str, out_file: str) -> None:
    """Runs inside the Rasa venv: load the model once, then parse the test sentences one by one."""
    import asyncio
    import logging

    logging.disable(logging.WARNING)
    from rasa.core.agent import Agent

    rows = [json.loads(line) for line in Path(test_file).read_text(encoding="utf-8").splitlines()]

    async def run() -> None:
        agent = Agent.load(model)
        await agent.parse_message(rows[0]["text"])  # warm-up (graph and TF function tracing)
        with Path(out_file).open("w", encoding="utf-8") as fh:
            for row in rows:
                start = time.perf_counter()
                parsed = await agent.parse_message(row["text"])
                ms = (time.perf_counter() - start) * 1000
                predicted = (parsed.get("intent") or {}).get("name")
                entities = [[e["start"], e["end"], e["entity"]] for e in parsed.get("entities", [])]
                out = {**row, "predicted": predicted, "predicted_entities": entities, "ms": ms}
                fh.write(json.dumps(out, ensure_ascii=False) + "\n")

    asyncio.run(run())


# ---------------------------------------------------------------- command line


def table(rows: Sequence[dict]) -> str:
    lines = [
        "| data set | pipeline | train min (wall) | train CPU min | intent accuracy | intent macro-F1 | entity F1 "
        "| parse ms (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['config']} | {r['train_min']:.1f} | {r['train_cpu_min']:.1f} | {r['accuracy']:.3f} "
            f"| {r['macro_f1']:.3f} | {r['entity_f1']:.3f} | {r['parse_ms_median']:.1f} |"
        )
    lines.append("")
    lines.append("References (not measured in this run):")
    lines.append("")
    lines.append("| data set | pipeline | train min | accuracy | macro-F1 | parse ms |")
    lines.append("|---|---|---|---|---|---|")
    lines.extend(REFERENCES)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="smp2020,cais", help="comma-separated: smp2020,cais")
    parser.add_argument("--configs", default="", help="comma-separated config names from bench/nlu_configs/")
    parser.add_argument("--quick", action="store_true", help=f"only the fast configs {QUICK_CONFIGS}")
    parser.add_argument("--retrain", action="store_true", help="train again even when a model exists")
    parser.add_argument("--evaluate", nargs=3, metavar=("MODEL", "TEST", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.evaluate:
        _evaluate_in_rasa(*args.evaluate)
        return 0

    sets = [s for s in args.sets.split(",") if s]
    unknown = [s for s in sets if s not in LOADERS]
    if unknown:
        parser.error(f"unknown data set(s): {unknown}")
    if args.configs:
        configs = [CONFIG_DIR / f"{c}.yml" for c in args.configs.split(",") if c]
    elif args.quick:
        configs = [CONFIG_DIR / f"{c}.yml" for c in QUICK_CONFIGS]
    else:
        configs = sorted(CONFIG_DIR.glob("*.yml"))
    missing = [str(c) for c in configs if not c.exists()]
    if missing or not configs:
        parser.error(f"missing config(s): {missing or 'none found'}")
    if not DATASETS.is_dir():
        print(f"data sets not found at {DATASETS}", file=sys.stderr)
        return 2

    rows: list[dict] = []
    failures = 0
    for name in sets:
        set_dir = convert(name)
        for config in configs:
            try:
                info = train(set_dir, config, retrain=args.retrain)
                result = evaluate(set_dir, config)
            except RuntimeError as exc:
                print(f"FAILED: {exc}", file=sys.stderr)
                failures += 1
                continue
            rows.append({"set": name, "config": config.stem, **info, **result})
            print(f"done: {name} {config.stem} {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    print(table(rows))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
