"""Knowledge-base benchmark (issue 3).

Run: ``.venv/bin/python bench/kb_bench.py [--sections dev,rasa,public,latency,builds]``.

- dev: hybrid vs dense-only vs BM25-only on knowledge_base/eval/dev.tsv (and holdout.tsv), same KB build;
- rasa: Rasa 3.6 ResponseSelector trained on the same corpus (retrieval intents faq/<id>, plus an out_of_scope
  intent from the same calibration negatives), trained with `rasa train nlu` in .venv-rasa and evaluated by loading
  the model with rasa.core.agent in a .venv-rasa subprocess;
- public: AFQMC dev, BQ test, LCQMC test question-matching (protocol in bench/kb_tools/public_sets.py); the linear
  adapter over USE and the pair model are trained on AFQMC *train* only (bench/kb_tools/adapter.py), hybrid
  retrieval is reciprocal-rank fusion of the adapted dense ranking and BM25;
- latency: search latency (query encoding included, no query cache) on synthetic 10k- and 100k-entry corpora of
  real sentences with their real USE vectors, and exact vs HNSW search times and recall on real vectors that justify
  ``exact_max_vectors`` (bench/kb_tools/latency.py);
- builds: the default build (calibration negatives from the repository only, what a bare clone gets) against the
  full build (plus the LCQMC dev sample from the public data sets), each built from scratch in its own home, hybrid
  on dev.tsv and holdout.tsv (issue 15). Not in the default sections.
Prints one JSON object (also written to var/kb_bench/results.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
OUT = ROOT / "var" / "kb_bench"


def log(msg: str) -> None:
    print(f"[kb_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------- dev + rasa
def section_dev(kb: Any) -> dict[str, Any]:
    from knowledge_base.cli import evaluate, read_eval_tsv

    res: dict[str, Any] = {}
    for name in ("dev", "holdout"):
        rows = read_eval_tsv(ROOT / "knowledge_base" / "eval" / f"{name}.tsv")
        for mode in ("hybrid", "dense", "bm25"):
            r = evaluate(kb, rows, mode=mode)
            r.pop("errors")
            res[f"{name}/{mode}"] = r
            log(f"{name} {mode}: {r}")
    return res


def section_rasa(epochs: int) -> dict[str, Any]:
    from kb_tools.rasa_project import write_project

    from knowledge_base.cli import read_eval_tsv
    from knowledge_base.corpus import corpus_hash, load_corpus
    from knowledge_base.settings import get_kb_settings

    settings = get_kb_settings()
    entries = load_corpus(settings.corpus_dir)
    key = hashlib.sha256(f"{corpus_hash(entries)}{epochs}".encode()).hexdigest()[:10]
    proj = OUT / "rasa"
    model = proj / "models" / f"rs-{key}.tar.gz"
    train_s = None
    if not model.exists():
        write_project(proj, entries, settings.negatives_file, epochs=epochs)
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
        t0 = time.perf_counter()
        log(f"training Rasa ResponseSelector ({epochs} epochs)")
        subprocess.run([str(ROOT / ".venv-rasa" / "bin" / "rasa"), "train", "nlu", "--config", "config.yml",
                        "--nlu", "nlu.yml", "--domain", "domain.yml", "--out", "models", "--fixed-model-name",
                        f"rs-{key}", "--num-threads", "1"], cwd=proj, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        train_s = round(time.perf_counter() - t0, 1)
    res: dict[str, Any] = {"model": str(model.relative_to(ROOT)), "epochs": epochs, "train_seconds": train_s}
    for name in ("dev", "holdout"):
        rows = read_eval_tsv(ROOT / "knowledge_base" / "eval" / f"{name}.tsv")
        qfile = proj / f"{name}.queries.txt"
        qfile.write_text("\n".join(q for q, _ in rows) + "\n", encoding="utf-8")
        out = subprocess.run([str(ROOT / ".venv-rasa" / "bin" / "python"), str(ROOT / "bench" / "kb_tools" /
                              "rasa_rs_eval.py"), str(model), str(qfile)], capture_output=True, text=True, check=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        parsed = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        assert len(parsed) == len(rows), (len(parsed), len(rows))
        n_in = top1 = n_off = dec_off = dec_in = 0
        for (_, exp), p in zip(rows, parsed, strict=True):
            # decline like a Rasa bot would: the out_of_scope intent, or intent confidence under the default
            # FallbackClassifier threshold (0.3)
            declined = p["intent"] != "faq" or p["intent_conf"] < 0.3
            if exp == "off_topic":
                n_off += 1
                dec_off += declined
            else:
                n_in += 1
                dec_in += declined
                top1 += (not declined) and p["faq"] == exp
        ms = np.asarray([p["ms"] for p in parsed])
        res[name] = {"top1_accuracy": round(top1 / n_in, 4), "in_scope_decline_rate": round(dec_in / n_in, 4),
                     "off_topic_decline_rate": round(dec_off / n_off, 4),
                     "latency_ms_p50": round(float(np.percentile(ms, 50)), 3),
                     "latency_ms_p99": round(float(np.percentile(ms, 99)), 3)}
        log(f"rasa {name}: {res[name]}")
    return res


# ---------------------------------------------------------------------------------------------------- public
def section_public(limit: int | None, splits: list[str]) -> dict[str, Any]:
    from kb_tools.adapter import AdapterConfig, PairModel, adapt, holdout_pairs, train_adapter
    from kb_tools.public_sets import Lexical, make_split, metrics, pair_features, ranks_for_split, read_pairs
    from sklearn.metrics import roc_auc_score

    from knowledge_base.embedder import cached_encode, make_embedder

    emb_model = make_embedder("use", threads=1)
    cache = OUT / "cache"

    def load(name: str) -> tuple[Any, np.ndarray, Any]:
        split = make_split(read_pairs(name))
        log(f"{name}: {len(split.pairs)} pairs, {len(split.sentences)} sentences, {len(split.queries)} queries")
        emb = cached_encode(emb_model, split.sentences, cache, progress=True)
        return split, emb, Lexical(split.sentences)

    # training data: AFQMC train only, never an evaluated split. 90% of its pairs train the adapter, the other 10%
    # (pairs the adapter never saw) fit the pair model
    tr_split, tr_emb, tr_lex = load("afqmc_train")
    a_idx, b_idx = holdout_pairs(tr_split)
    cfg = AdapterConfig()
    t0 = time.perf_counter()
    w = train_adapter(tr_emb, [tr_split.pairs[i] for i in a_idx], cfg)
    train_s = round(time.perf_counter() - t0, 1)
    pair_model = PairModel.fit(tr_split, tr_emb, adapt(tr_emb, w), tr_lex, [tr_split.pairs[i] for i in b_idx])
    res: dict[str, Any] = {
        "trained_on": f"AFQMC train: adapter on {len(a_idx)} pairs ({train_s} s), pair model on {len(b_idx)}",
        "adapter": cfg.__dict__, "pair_coef": [round(float(c), 3) for c in pair_model.model.coef],
        "ties": "top1/mrr expected under a random order of tied scores; top1_ties_won counts ties as hits"}
    for name in splits:
        split, emb, lex = load(name)
        emb_a = adapt(emb, w)
        ranks = ranks_for_split(split, emb, lex, emb_a, limit=limit)
        r: dict[str, Any] = {m: metrics(v) for m, v in ranks.items()}
        pf = pair_features(split, emb, lex)
        y = np.asarray([lab for _, _, lab in split.pairs])
        r["pair_auc"] = {
            "dense": round(float(roc_auc_score(y, pf[:, 0])), 4),
            "dense_adapted": round(float(roc_auc_score(y, [emb_a[i] @ emb_a[j] for i, j, _ in split.pairs])), 4),
            "bm25": round(float(roc_auc_score(y, pf[:, 1])), 4),
            "hybrid": round(float(roc_auc_score(y, pair_model.proba(PairModel.features(split, emb, emb_a, lex)))),
                            4)}
        r["index_size"] = len(split.sentences)
        res[name] = r
        log(f"{name}: {r}")
        (OUT / "public-partial.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


# ---------------------------------------------------------------------------------------------------- latency
def section_latency(kb: Any, sizes: list[int], raw_sizes: list[int]) -> dict[str, Any]:
    from kb_tools.latency import kb_latency, raw_index_latency, real_pool

    from knowledge_base.cli import read_eval_tsv

    queries = [q for q, _ in read_eval_tsv(ROOT / "knowledge_base" / "eval" / "dev.tsv")]
    texts, pool = real_pool(kb.embedder, OUT / "cache", log)
    held = pool[-200:]  # never indexed below: the largest size uses at most len(pool) - 200 vectors
    texts, pool = texts[:-200], pool[:-200]
    qvecs = np.concatenate([kb.embedder.encode(queries), held])
    s = kb.settings
    res: dict[str, Any] = {"exact_max_vectors": s.exact_max_vectors, "pool_sentences": len(texts),
                           "load_avg_start": os.getloadavg()}
    if raw_sizes:
        res["raw_index"] = raw_index_latency(pool, qvecs, raw_sizes, ef_search=s.hnsw_ef_search, hnsw_m=s.hnsw_m,
                                             k=s.dense_candidates, log=log)
    res.update(kb_latency(kb, texts, pool, queries, sizes, OUT / "synthetic", log=log))
    return res


def section_builds(datasets: Path) -> dict[str, Any]:
    import shutil

    from knowledge_base.cli import evaluate, read_eval_tsv
    from knowledge_base.service import KnowledgeBase
    from knowledge_base.settings import KbSettings

    lcqmc_dev = datasets / "LCQMC" / "dev.txt"
    if not lcqmc_dev.is_file():
        raise SystemExit(f"the full build needs {lcqmc_dev} (set KEFU_DATASETS)")
    res: dict[str, Any] = {"datasets": str(datasets)}
    for name, negatives_file in (("default", None), ("full", lcqmc_dev)):
        home = OUT / "builds" / name
        shutil.rmtree(home, ignore_errors=True)
        t0 = time.perf_counter()
        kb = KnowledgeBase(KbSettings(home=home, negatives_file=negatives_file), watch=False)
        r: dict[str, Any] = {"build_seconds": round(time.perf_counter() - t0, 1), "load_avg": os.getloadavg(),
                             "negatives": int(kb.index.neg_emb.shape[0])}
        for split in ("dev", "holdout"):
            ev = evaluate(kb, read_eval_tsv(ROOT / "knowledge_base" / "eval" / f"{split}.tsv"))
            ev.pop("errors")
            r[split] = ev
        kb.close()
        res[name] = r
        log(f"builds {name}: {r}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", default="dev,rasa,public,latency")
    ap.add_argument("--rasa-epochs", type=int, default=40)
    ap.add_argument("--public-limit", type=int, default=None, help="queries per public split (default: all)")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--raw-sizes", default="2000,5000,10000,20000,50000,100000",
                    help="vector counts for exact vs HNSW timing")
    ap.add_argument("--splits", default="afqmc_dev,lcqmc_test,bq_test")
    ap.add_argument("--datasets", type=Path,
                    default=Path(os.environ.get("KEFU_DATASETS") or ROOT.parent / "shared" / "datasets"),
                    help="public data sets folder (builds section: the full build's LCQMC dev)")
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"command": "python bench/kb_bench.py " + " ".join(sys.argv[1:]),
                               "load_avg_start": os.getloadavg()}
    kb = None
    if sections & {"dev", "latency"}:
        from knowledge_base.service import KnowledgeBase

        kb = KnowledgeBase(watch=False)
    if "dev" in sections:
        results["dev"] = section_dev(kb)
    if "rasa" in sections:
        results["rasa_response_selector"] = section_rasa(args.rasa_epochs)
    if "public" in sections:
        results["public"] = section_public(args.public_limit, args.splits.split(","))
    if "latency" in sections:
        results["latency"] = section_latency(kb, [int(s) for s in args.sizes.split(",")],
                                             [int(s) for s in args.raw_sizes.split(",") if s])
    if "builds" in sections:
        results["builds"] = section_builds(args.datasets)
    results["load_avg_end"] = os.getloadavg()
    path = OUT / f"results-{'-'.join(sorted(sections))}.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
