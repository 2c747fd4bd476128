"""Train the ranker and the confidence calibrator of each mode at build time.

What trains them (never the dev set ``knowledge_base/eval/dev.tsv`` nor any evaluated public split):
- positives: every corpus paraphrase used as a query against an index built without it (5-fold cross-fitting:
  each fold's paraphrases are hidden from the dense index, BM25, centroids and the entry classifier); the ranker
  learns which candidate is the query's own entry, the calibrator learns whether the top-ranked one is right;
- negatives for the calibrator: ``knowledge_base/calibration/negatives.txt`` (hand-written chit-chat, other domains
  and near misses such as questions about the company itself, written for this purpose and disjoint from dev.tsv),
  plus, only where ``KEFU_KB_NEGATIVES_FILE`` names one, a fixed sample of a public set's sentences (LCQMC *dev*:
  open-domain questions; LCQMC *test* is the evaluated split) with shop-related ones filtered out by keyword.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import numpy as np

from knowledge_base.fusion import MODES, Candidates, FusionModel, LinearModel, decision_features, ranking_features
from knowledge_base.retrieval import KbIndex, single_thread_blas

NEGATIVES_FILE = Path(__file__).resolve().parent / "calibration" / "negatives.txt"
# drop public-set sentences that may well be shop questions (they would be mislabelled negatives)
_SHOP_WORDS = re.compile(
    "退|换货|快递|物流|发货|收货|包裹|订单|下单|发票|优惠|券|积分|会员|淘宝|京东|天猫|拼多多|网购|店|卖家|买家|商家|客服|"
    "付款|支付|分期|花呗|白条|价|邮|运费|签收|尺码|正品|假货|保修|售后|投诉|评价|账号|密码|手机号|注册|登录|预售|定金|尾款|"
    "关税|海淘|自提|包装|缺货|到货|质量|破损|维修|取消|修改|地址|东西|商品|买|购")
LCQMC_SAMPLE = 800


class NegativesNotFound(ValueError):
    """``KEFU_KB_NEGATIVES_FILE`` names a file that is not there (a set asked for is never left out silently)."""

    def __init__(self, path: Path):
        super().__init__(f"negatives file not found: {path} (unset KEFU_KB_NEGATIVES_FILE to build from the "
                         f"repository's own negatives)")
        self.path = path


def load_negatives(extra_file: Path | None, *, seed: int = 13) -> list[str]:
    """The repository's negatives, plus a fixed sample of ``extra_file`` (tab-separated sentence pairs) if given."""
    own = [ln.strip() for ln in NEGATIVES_FILE.read_text(encoding="utf-8").splitlines()
           if ln.strip() and not ln.startswith("#")]
    public: list[str] = []
    if extra_file is not None:
        if not extra_file.is_file():
            raise NegativesNotFound(extra_file)
        seen: set[str] = set()
        for line in extra_file.read_text(encoding="utf-8").splitlines():
            for s in line.split("\t")[:2]:
                s = s.strip()
                if s and s not in seen and not _SHOP_WORDS.search(s):
                    seen.add(s)
                    public.append(s)
        rng = random.Random(seed)
        public = rng.sample(sorted(public), min(LCQMC_SAMPLE, len(public)))
    return own + public


def negatives_digest(negatives: list[str]) -> str:
    """Short digest of the negatives: a build calibrated on other negatives is another build."""
    return hashlib.sha256("\n".join(negatives).encode()).hexdigest()[:8]


def _fold_index(kb: KbIndex, fold: int, folds: int, neg_emb: np.ndarray) -> tuple[KbIndex, list[str], np.ndarray,
                                                                                   list[int]]:
    """An index over the corpus without the paraphrases of one fold, plus those held-out paraphrases."""
    rows = {(int(kb.sent_entry[i]), s): i for i, s in enumerate(kb.sentences)}
    kept_entries = []
    kept_rows: list[int] = []
    held: list[str] = []
    held_rows: list[int] = []
    targets: list[int] = []
    for ei, e in enumerate(kb.entries):
        keep: list[str] = []
        for j, p in enumerate(e.sentences()[1:]):
            if (j + ei) % folds == fold:
                held.append(p)
                held_rows.append(rows[(ei, p)])
                targets.append(ei)
            else:
                keep.append(p)
        fe = e.model_copy(update={"paraphrases": keep})
        kept_entries.append(fe)
        kept_rows.extend(rows[(ei, s)] for s in fe.sentences())
    neg_keep = np.arange(neg_emb.shape[0]) % folds != fold
    sub = KbIndex.build(kept_entries, kb.embedder, kb.settings, emb=kb.emb[kept_rows], neg_emb=neg_emb[neg_keep])
    return sub, held, kb.emb[held_rows], targets


def train_models(kb: KbIndex, negatives: list[str], *, folds: int = 5,
                 extra_source: str = "") -> dict[str, FusionModel]:
    """Fit ranker + calibrator for every mode on ``kb`` by cross-fitting: each fold's paraphrases are queried
    against an index built without them (see the module docstring for the data). ``extra_source`` names where
    negatives beyond the repository's came from (recorded in the models' ``trained_on``)."""
    # one BLAS thread: the fits are small, and on a busy 2-core machine a second BLAS thread spin-waits for a core
    # (measured on the shipped corpus at load ~4: 17.4 s with the default threads, 2.4 s with one)
    with single_thread_blas():
        return _train_models(kb, negatives, folds=folds, extra_source=extra_source)


def _train_models(kb: KbIndex, negatives: list[str], *, folds: int, extra_source: str) -> dict[str, FusionModel]:
    neg_vecs = kb.neg_emb
    if neg_vecs.shape[0] != len(negatives):
        raise ValueError("kb.neg_emb must hold the vectors of `negatives`")
    cands: dict[str, list[tuple[Candidates, int]]] = {m: [] for m in MODES}
    n_pos = 0
    for fold in range(folds):
        sub, held, held_vecs, targets = _fold_index(kb, fold, folds, neg_vecs)
        n_pos += len(held)
        queries = held + [x for i, x in enumerate(negatives) if i % folds == fold]
        in_fold = np.arange(len(negatives)) % folds == fold
        vecs = np.concatenate([held_vecs, neg_vecs[in_fold]]) if negatives else held_vecs
        labels = targets + [-1] * (len(queries) - len(held))
        for mode in MODES:
            for q, v, t in zip(queries, vecs, labels, strict=True):
                c = sub.candidates(q, mode=mode, qvec=v)
                if c.entries.size:
                    cands[mode].append((c, t))
    trained_on = (f"{folds}-fold cross-fitting over {n_pos} corpus paraphrases; {len(negatives)} negatives "
                  f"(knowledge_base/calibration/negatives.txt{extra_source})")
    models: dict[str, FusionModel] = {}
    for mode in MODES:
        ranker: LinearModel | None = None
        if mode != "dense":
            pos = [(c, t) for c, t in cands[mode] if t >= 0]
            rx = np.concatenate([ranking_features(c, mode) for c, _ in pos])
            ry = np.concatenate([(c.entries == t).astype(np.int64) for c, t in pos])
            ranker = LinearModel.fit(rx, ry, c=1.0, balanced=False)
        dx, dy = [], []
        for c, t in cands[mode]:
            f = ranking_features(c, mode)
            scores = f[:, 0] if ranker is None else ranker.logit(f)
            order = np.argsort(-scores, kind="stable")
            dx.append(decision_features(c, scores, order, mode))
            dy.append(int(t >= 0 and int(c.entries[order[0]]) == t))
        calibrator = LinearModel.fit(np.stack(dx), np.asarray(dy), c=1.0, balanced=True)
        models[mode] = FusionModel(mode=mode, ranker=ranker, calibrator=calibrator, trained_on=trained_on)
    return models
