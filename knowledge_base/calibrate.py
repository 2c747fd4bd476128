"""Train the ranker and the confidence calibrator of each mode at build time.

What trains them (never the dev set ``knowledge_base/eval/dev.tsv`` nor any evaluated public split):
- positives: every corpus sentence used as a query against the corpus with that one sentence hidden
  (leave-one-paraphrase-out); the ranker learns which candidate is the query's own entry, the calibrator learns
  whether the top-ranked candidate is right;
- negatives for the calibrator: ``knowledge_base/calibration/negatives.txt`` (hand-written chit-chat, other domains
  and near misses such as questions about the company itself, written for this purpose and disjoint from dev.tsv)
  plus, when the file exists, a fixed sample of LCQMC *dev* sentences (open-domain questions; LCQMC *test* is the
  evaluated split) with shop-related ones filtered out by keyword.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np

from knowledge_base.embedder import cached_encode
from knowledge_base.fusion import MODES, FusionModel, LinearModel, Mode, decision_features, ranking_features
from knowledge_base.search import KbIndex

NEGATIVES_FILE = Path(__file__).resolve().parent / "calibration" / "negatives.txt"
# drop public-set sentences that may well be shop questions (they would be mislabelled negatives)
_SHOP_WORDS = re.compile(
    "退|换货|快递|物流|发货|收货|包裹|订单|下单|发票|优惠|券|积分|会员|淘宝|京东|天猫|拼多多|网购|店|卖家|买家|商家|客服|"
    "付款|支付|分期|花呗|白条|价|邮|运费|签收|尺码|正品|假货|保修|售后|投诉|评价|账号|密码|手机号|注册|登录|预售|定金|尾款|"
    "关税|海淘|自提|包装|缺货|到货|质量|破损|维修|取消|修改|地址|东西|商品|买|购")
LCQMC_SAMPLE = 1500


def load_negatives(extra_file: Path | None, *, seed: int = 13) -> list[str]:
    own = [ln.strip() for ln in NEGATIVES_FILE.read_text(encoding="utf-8").splitlines()
           if ln.strip() and not ln.startswith("#")]
    public: list[str] = []
    if extra_file is not None and extra_file.exists():
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


def _collect(kb: KbIndex, queries: list[str], qvecs: np.ndarray, targets: list[int], excludes: list[int | None],
             mode: Mode, ranker: LinearModel | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rank_x: list[np.ndarray] = []
    rank_y: list[np.ndarray] = []
    dec_x: list[np.ndarray] = []
    dec_y: list[int] = []
    for q, v, t, ex in zip(queries, qvecs, targets, excludes, strict=True):
        c = kb.candidates(q, mode=mode, qvec=v, exclude_sentence=ex)
        if c.entries.size == 0:
            continue
        f = ranking_features(c, mode)
        if t >= 0:
            rank_x.append(f)
            rank_y.append((c.entries == t).astype(np.int64))
        scores = f[:, 0] if (mode == "dense" or ranker is None) else ranker.logit(f)
        order = np.argsort(-scores, kind="stable")
        dec_x.append(decision_features(c, scores, order, mode))
        dec_y.append(int(t >= 0 and int(c.entries[order[0]]) == t))
    return (np.concatenate(rank_x) if rank_x else np.zeros((0, 1)), np.concatenate(rank_y) if rank_y else np.zeros(0),
            np.stack(dec_x), np.asarray(dec_y))


def train_models(kb: KbIndex, negatives: list[str]) -> dict[str, FusionModel]:
    """Fit ranker + calibrator for every mode on ``kb`` (see the module docstring for the data)."""
    queries: list[str] = []
    targets: list[int] = []
    excludes: list[int | None] = []
    for si, s in enumerate(kb.sentences):
        ei = int(kb.sent_entry[si])
        if kb.starts[ei + 1] - kb.starts[ei] < 2:
            continue  # an entry with one sentence cannot be found once that sentence is hidden
        queries.append(s)
        targets.append(ei)
        excludes.append(si)
    pos_vecs = kb.emb[[e for e in excludes if e is not None]]
    neg_vecs = cached_encode(kb.embedder, negatives, kb.settings.home / "cache")
    all_q = queries + negatives
    all_v = np.concatenate([pos_vecs, neg_vecs]) if negatives else pos_vecs
    all_t = targets + [-1] * len(negatives)
    all_ex: list[int | None] = [*excludes, *([None] * len(negatives))]
    trained_on = (f"leave-one-paraphrase-out on {len(queries)} corpus sentences; {len(negatives)} negatives "
                  f"(knowledge_base/calibration/negatives.txt + LCQMC dev sample)")
    models: dict[str, FusionModel] = {}
    for mode in MODES:
        ranker: LinearModel | None = None
        if mode != "dense":
            rx, ry, _, _ = _collect(kb, queries, pos_vecs, targets, excludes, mode, None)
            ranker = LinearModel.fit(rx, ry, c=1.0, balanced=False)
        _, _, dx, dy = _collect(kb, all_q, all_v, all_t, all_ex, mode, ranker)
        calibrator = LinearModel.fit(dx, dy, c=1.0, balanced=True)
        models[mode] = FusionModel(mode=mode, ranker=ranker, calibrator=calibrator, trained_on=trained_on)
    return models
