"""Open the corpus store the settings name: the YAML directory or the database (:mod:`knowledge_base.store`,
:mod:`knowledge_base.sql_store`). Apart from both, so that neither store module imports the other's."""

from __future__ import annotations

from knowledge_base.settings import KbSettings
from knowledge_base.sql_store import SqlCorpusStore
from knowledge_base.store import YamlCorpusStore


def open_store(settings: KbSettings, *, seed: bool = True) -> YamlCorpusStore | SqlCorpusStore:
    """The store ``settings`` name. A SQL store gets its tables and, when it has never been seeded, the YAML corpus
    of ``settings.corpus_dir`` (``seed=False`` leaves an empty database empty)."""
    if settings.store == "yaml":
        return YamlCorpusStore(settings.corpus_dir)
    store = SqlCorpusStore.from_settings(settings)
    if seed:
        store.seed_from(settings.corpus_dir)
    return store
