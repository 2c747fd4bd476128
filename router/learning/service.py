"""The learning loop: weak bot answers -> clusters of questions -> proposals -> (content staff accept) -> corpus + live
index.

A cluster close to an existing entry becomes a ``paraphrase`` proposal for it (the bot knew the answer but not
this way of asking); otherwise a ``new_entry`` proposal whose draft answer is what agents replied most often.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from knowledge_base.corpus import CorpusError
from knowledge_base.escalation import classify_text
from knowledge_base.sql_store import SqlCorpusStore
from knowledge_base.store import EntryExists, VersionConflict
from router.clock import aware, utcnow
from router.db import session_scope
from router.learning.cluster import cluster_vectors, medoid
from router.learning.errors import InvalidProposalEdit, ProposalDecided, ProposalNotFound
from router.learning.mining import Candidate, collect_candidates
from router.learning.models import Proposal

if TYPE_CHECKING:
    from knowledge_base.service import KnowledgeBase
    from router.settings import Settings

log = logging.getLogger(__name__)
CORPUS_CATEGORIES_FALLBACK = "after_sales"
MAX_PARAPHRASES = 12


class Encoder(Protocol):
    def encode(self, sentences: list[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class LearningConfig:
    low_confidence: float = 0.5
    distance_threshold: float = 0.5
    min_cluster: int = 3
    paraphrase_score: float = 0.75
    lookback_s: float = 14 * 24 * 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LearningConfig:
        return cls(
            low_confidence=settings.learning_low_confidence,
            distance_threshold=settings.learning_distance_threshold,
            min_cluster=settings.learning_min_cluster,
            paraphrase_score=settings.learning_paraphrase_score,
            lookback_s=settings.learning_lookback_s,
        )


@dataclass(frozen=True)
class ProposalEdits:
    """What content staff may change before accepting."""

    faq_id: str | None = None
    question: str | None = None
    paraphrases: list[str] | None = None
    answer: str | None = None
    category: str | None = None


class LearningService:
    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        kb: Callable[[], KnowledgeBase],
        config: LearningConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = session_factory
        self.kb = kb
        self.config = config or LearningConfig()
        self.clock = clock

    # ------------------------------------------------------------------ proposals
    def refresh(self, *, since: datetime | None = None, until: datetime | None = None) -> list[Proposal]:
        """Recompute the pending proposals from the conversations in [since, until) (default: the lookback).

        Questions already in an accepted or rejected proposal are left out, so a decision is never asked again.
        """
        until = aware(until or self.clock())
        since = aware(since) if since else until - timedelta(seconds=self.config.lookback_s)
        with session_scope(self.sessions) as s:
            decided: set[int] = set()
            for ids in s.scalars(select(Proposal.message_ids).where(Proposal.status != "pending")).all():
                decided.update(int(i) for i in ids or [])
            candidates = collect_candidates(
                s, since=since, until=until, low_confidence=self.config.low_confidence, exclude_message_ids=decided
            )
        proposals = self._propose(candidates) if candidates else []
        with session_scope(self.sessions) as s:
            pending = list(s.scalars(select(Proposal).where(Proposal.status == "pending")).all())
            kept: list[Proposal] = []
            for p in proposals:
                # a cluster that is mostly the same questions keeps its proposal (and id) while staff review it
                match = max(pending, key=lambda old: _overlap(old.message_ids, p.message_ids), default=None)
                if match is not None and _overlap(match.message_ids, p.message_ids) >= 0.5:
                    pending.remove(match)
                    for attr in ("kind", "faq_id", "category", "question", "paraphrases", "answer", "similarity",
                                 "size", "message_ids", "conversation_ids"):
                        setattr(match, attr, getattr(p, attr))
                    kept.append(match)
                else:
                    s.add(p)
                    kept.append(p)
            if pending:
                s.execute(delete(Proposal).where(Proposal.id.in_([old.id for old in pending])))
            s.flush()
            return kept

    def _propose(self, candidates: list[Candidate]) -> list[Proposal]:
        kb = self.kb()
        # one vector per distinct text; duplicates weigh in through their count
        texts = sorted({c.text for c in candidates})
        vectors = kb.embedder.encode(texts)
        by_text: dict[str, list[Candidate]] = {}
        for c in candidates:
            by_text.setdefault(c.text, []).append(c)
        # a text asked by several shoppers is a cluster on its own even when nothing else looks like it
        clusters = cluster_vectors(vectors, distance_threshold=self.config.distance_threshold, min_size=1)
        proposals: list[Proposal] = []
        now = self.clock()
        for members in clusters:
            asked = [c for i in members for c in by_text[texts[i]]]
            if len(asked) < self.config.min_cluster:
                continue
            rep = texts[medoid(vectors, members)] if len(members) > 1 else texts[members[0]]
            nearest = kb.search(rep, k=1, mode="dense")
            similarity = float(nearest[0].score) if nearest else 0.0
            answers = Counter(c.agent_answer for c in asked if c.agent_answer)
            variants = [t for t in sorted((texts[i] for i in members), key=lambda t: (-len(by_text[t]), t))
                        if t != rep][:MAX_PARAPHRASES]
            common = dict(
                size=len(asked),
                message_ids=sorted(c.message_id for c in asked),
                conversation_ids=sorted({c.conversation_id for c in asked}),
                answer=answers.most_common(1)[0][0] if answers else None,
                similarity=round(similarity, 4),
                status="pending",
                created_at=now,
            )
            if nearest and similarity >= self.config.paraphrase_score:
                proposals.append(Proposal(kind="paraphrase", faq_id=nearest[0].id, category=nearest[0].category,
                                          question=rep, paraphrases=[rep, *variants], **common))
            else:
                category = Counter(classify_text(t).skill for t in texts).most_common(1)[0][0]
                proposals.append(Proposal(kind="new_entry", faq_id=suggest_id(rep), category=category,
                                          question=rep, paraphrases=variants, **common))
        return proposals

    def list_proposals(self, *, status: str | None = "pending") -> list[Proposal]:
        with session_scope(self.sessions) as s:
            query = select(Proposal)
            if status:
                query = query.where(Proposal.status == status)
            return list(s.scalars(query.order_by(Proposal.size.desc(), Proposal.id)).all())

    def get(self, proposal_id: int) -> Proposal:
        with session_scope(self.sessions) as s:
            p = s.get(Proposal, proposal_id)
            if p is None:
                raise ProposalNotFound(f"proposal {proposal_id} not found", proposal_id=proposal_id)
            return p

    # ------------------------------------------------------------------ decisions
    def accept(self, proposal_id: int, *, user_id: int, edits: ProposalEdits | None = None) -> tuple[Proposal, Any]:
        """Write the proposal into the corpus (new entry, or paraphrases appended to the entry) and reload the live
        index before returning. Returns the proposal and the stored ``FaqEntry``."""
        edits = edits or ProposalEdits()
        with session_scope(self.sessions) as s:
            p = s.get(Proposal, proposal_id, with_for_update=True)
            if p is None:
                raise ProposalNotFound(f"proposal {proposal_id} not found", proposal_id=proposal_id)
            if p.status != "pending":
                raise ProposalDecided(f"proposal {proposal_id} is already {p.status}", proposal_id=proposal_id)
            kb = self.kb()
            store = kb.store
            if not isinstance(store, SqlCorpusStore):  # a YAML corpus is the repository's seed: never written here
                raise InvalidProposalEdit("the FAQ corpus is read-only here (KEFU_KB_STORE=yaml)")
            try:
                stored = self._write(store, p, edits, user=f"learning:{user_id}")
                kb.reload(wait=True)
            except CorpusError as exc:
                raise InvalidProposalEdit(exc.message, field=exc.field, entry=exc.entry) from exc
            p.status, p.decided_at, p.decided_by, p.result_faq_id = "accepted", self.clock(), user_id, stored.id
            return p, stored

    def _write(self, store: SqlCorpusStore, p: Proposal, edits: ProposalEdits, *, user: str) -> Any:
        """One write through the corpus store (history + corpus revision, which every process watches)."""
        note = f"学习建议 #{p.id}"
        entries = {e.id: e for e in store.entries()}
        if p.kind == "paraphrase":
            target_id = edits.faq_id or p.faq_id
            entry = entries.get(target_id or "")
            if entry is None:
                raise InvalidProposalEdit(f"FAQ entry {target_id} does not exist", faq_id=target_id)
            known = set(entry.sentences())
            added = [t for t in (edits.paraphrases if edits.paraphrases is not None else p.paraphrases)
                     if t.strip() and t.strip() not in known]
            if not added:
                raise InvalidProposalEdit("every proposed paraphrase is already in the entry", faq_id=target_id)
            content = entry.model_dump(include={"id", "category", "question", "answer", "tags"})
            try:
                return store.update({**content, "paraphrases": [*entry.paraphrases, *added]}, user=user,
                                    expected_version=entry.version, note=note)
            except VersionConflict as exc:
                raise InvalidProposalEdit("the FAQ entry changed meanwhile; try again", faq_id=target_id) from exc
        entry_id = edits.faq_id or p.faq_id or suggest_id(p.question)
        if entry_id in entries:
            raise InvalidProposalEdit(f"FAQ id {entry_id} is taken; choose another", faq_id=entry_id)
        answer = (edits.answer or p.answer or "").strip()
        if not answer:
            raise InvalidProposalEdit("a new FAQ entry needs an answer; write one before accepting")
        question = (edits.question or p.question).strip()
        paraphrases = [t for t in (edits.paraphrases if edits.paraphrases is not None else p.paraphrases)
                       if t.strip() and t.strip() != question]
        content = {"id": entry_id, "category": edits.category or p.category or CORPUS_CATEGORIES_FALLBACK,
                   "question": question, "paraphrases": paraphrases, "answer": answer, "tags": ["learned"]}
        try:
            return store.create(content, user=user, note=note)
        except EntryExists as exc:
            raise InvalidProposalEdit(f"FAQ id {entry_id} is taken; choose another", faq_id=entry_id) from exc

    def reject(self, proposal_id: int, *, user_id: int) -> Proposal:
        with session_scope(self.sessions) as s:
            p = s.get(Proposal, proposal_id, with_for_update=True)
            if p is None:
                raise ProposalNotFound(f"proposal {proposal_id} not found", proposal_id=proposal_id)
            if p.status != "pending":
                raise ProposalDecided(f"proposal {proposal_id} is already {p.status}", proposal_id=proposal_id)
            p.status, p.decided_at, p.decided_by = "rejected", self.clock(), user_id
            return p


def _overlap(a: list[int] | None, b: list[int] | None) -> float:
    """Jaccard overlap of two proposals' question sets."""
    sa, sb = set(a or []), set(b or [])
    return len(sa & sb) / len(sa | sb) if sa or sb else 0.0


def suggest_id(question: str) -> str:
    """A stable placeholder id (``learned_<hash>``); content staff usually replace it with a meaningful one."""
    return "learned_" + hashlib.sha1(question.encode()).hexdigest()[:8]
