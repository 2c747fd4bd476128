"""Group similar questions: agglomerative clustering (average linkage, cosine distance) on sentence embeddings."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import AgglomerativeClustering


def cluster_vectors(vectors: np.ndarray, *, distance_threshold: float, min_size: int) -> list[list[int]]:
    """Clusters (lists of row indices, biggest first) with at least ``min_size`` members.

    No number of clusters is given: the tree is cut where the average cosine distance between two groups exceeds
    ``distance_threshold``, so unrelated one-off questions stay alone and are dropped.
    """
    n = len(vectors)
    if n < max(2, min_size):
        return []
    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance_threshold
    )
    labels = model.fit_predict(np.asarray(vectors, dtype=np.float32))
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    clusters = [g for g in groups.values() if len(g) >= min_size]
    return sorted(clusters, key=lambda g: (-len(g), g[0]))


def medoid(vectors: np.ndarray, members: list[int]) -> int:
    """The member most similar to all the others (the cluster's most typical question)."""
    sub = np.asarray(vectors[members], dtype=np.float32)
    norms = np.linalg.norm(sub, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit = sub / norms
    sims = unit @ unit.T
    return members[int(np.argmax(sims.sum(axis=1)))]
