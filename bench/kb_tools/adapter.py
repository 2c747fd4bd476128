"""A linear adapter over USE vectors and a pair model, both trained on AFQMC *train* only (issue 3, public sets).

- ``train_adapter``: a 512x512 matrix W (initialised to the identity, pulled back towards it by weight decay) so that
  normalised ``x @ W`` puts the two sides of a positive pair closer than the other sentences of the batch and the
  labelled-negative partners (symmetric InfoNCE). Deterministic: fixed seeds, one torch thread, a few seconds.
- ``PairModel``: a logistic regression over pair features (adapted cosine, raw cosine, lexical overlaps), fitted on
  AFQMC train pairs the adapter did not see.

Nothing here is evaluated on the split it was fitted on; the evaluated splits are AFQMC dev, LCQMC test, BQ test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from kb_tools.public_sets import Lexical, Split, pair_features

from knowledge_base.fusion import LinearModel


@dataclass(frozen=True)
class AdapterConfig:
    """Fixed before any evaluation (the first configuration tried; not tuned on an evaluated split)."""

    epochs: int = 3
    batch: int = 256
    temperature: float = 0.05
    weight_decay: float = 1e-3  # squared distance of W from the identity
    lr: float = 1e-3
    seed: int = 0


def holdout_pairs(split: Split, share: float = 0.1, seed: int = 5) -> tuple[list[int], list[int]]:
    """Indices of ``split.pairs`` for adapter training and for the pair model (a fixed random ``share``)."""
    idx = list(range(len(split.pairs)))
    random.Random(seed).shuffle(idx)
    cut = int(len(idx) * share)
    return sorted(idx[cut:]), sorted(idx[:cut])


def train_adapter(emb: np.ndarray, pairs: list[tuple[int, int, int]], cfg: AdapterConfig | None = None) -> np.ndarray:
    """W (dim x dim) from labelled sentence pairs (row indices into ``emb``)."""
    import torch

    cfg = cfg or AdapterConfig()
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    pos = np.asarray([(i, j) for i, j, y in pairs if y == 1 and i != j], dtype=np.int64)
    neg = np.asarray([(i, j) for i, j, y in pairs if y == 0], dtype=np.int64)
    x = torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32))
    dim = x.shape[1]
    eye = torch.eye(dim)
    w = torch.nn.Parameter(eye.clone())
    opt = torch.optim.Adam([w], lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    norm = torch.nn.functional.normalize
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(pos), generator=gen).numpy()
        for b in range(0, len(pos), cfg.batch):
            batch = pos[perm[b : b + cfg.batch]]
            a = norm(x[batch[:, 0]] @ w, dim=1)
            p = norm(x[batch[:, 1]] @ w, dim=1)
            # the partners of labelled-negative pairs are hard negatives (same topic, different question)
            hard = norm(x[neg[rng.integers(0, len(neg), len(batch)), 1]] @ w, dim=1)
            target = torch.arange(len(batch))
            loss = torch.nn.functional.cross_entropy(a @ torch.cat([p, hard]).T / cfg.temperature, target)
            loss = loss + torch.nn.functional.cross_entropy(p @ a.T / cfg.temperature, target)
            loss = loss + cfg.weight_decay * ((w - eye) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach().numpy().astype(np.float32)


def adapt(emb: np.ndarray, w: np.ndarray) -> np.ndarray:
    y = emb @ w
    return (y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-9)).astype(np.float32)


class PairModel:
    """P(same question) from the adapted cosine plus ``pair_features`` (raw cosine, BM25 ratio, overlaps)."""

    def __init__(self, model: LinearModel):
        self.model = model

    @staticmethod
    def features(split: Split, emb: np.ndarray, emb_a: np.ndarray, lex: Lexical,
                 pairs: list[tuple[int, int, int]] | None = None) -> np.ndarray:
        pairs = split.pairs if pairs is None else pairs
        cos_a = np.asarray([float(emb_a[i] @ emb_a[j]) for i, j, _ in pairs])
        return np.column_stack([cos_a, pair_features(split, emb, lex, pairs)])

    @classmethod
    def fit(cls, split: Split, emb: np.ndarray, emb_a: np.ndarray, lex: Lexical,
            pairs: list[tuple[int, int, int]]) -> PairModel:
        x = cls.features(split, emb, emb_a, lex, pairs)
        return cls(LinearModel.fit(x, np.asarray([y for _, _, y in pairs]), balanced=True))

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.proba(x)
