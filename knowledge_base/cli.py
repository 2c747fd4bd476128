"""``kefu kb``: build the index, ask one question, evaluate on a TSV file, export/import the corpus as YAML."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, cast

import numpy as np
import typer

from knowledge_base.calibrate import NegativesNotFound
from knowledge_base.corpus import CorpusError, load_corpus, load_file
from knowledge_base.embedder import EmbedderError
from knowledge_base.fusion import MODES, Mode
from knowledge_base.service import KbAnswer, KnowledgeBase, build_directory
from knowledge_base.settings import get_kb_settings
from knowledge_base.sql_store import SqlCorpusStore
from knowledge_base.store import YamlCorpusStore
from knowledge_base.stores import open_store

app = typer.Typer(help="FAQ knowledge base: build, ask, eval, export, import.", no_args_is_help=True,
                  add_completion=False)


def _open_kb(progress: bool = False) -> KnowledgeBase:
    try:
        return KnowledgeBase(watch=False, progress=progress)
    except CorpusError as exc:
        typer.echo(f"corpus error: {exc}", err=True)
        raise typer.Exit(2) from None
    except EmbedderError as exc:
        typer.echo(f"embedder error: {exc}", err=True)
        raise typer.Exit(2) from None
    except NegativesNotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command()
def build() -> None:
    """Validate the corpus, embed it, build FAISS + BM25, train the calibrators and save under KEFU_KB_HOME.

    The corpus is the live one in the database (KEFU_KB_DATABASE_URL), seeded from the repository's YAML when the
    database has none yet; with KEFU_KB_STORE=yaml it is the YAML directory itself."""
    t0 = time.perf_counter()
    settings = get_kb_settings()
    kb = _open_kb(progress=True)
    idx = kb.index
    typer.echo(f"built {len(idx.entries)} entries, {len(idx.sentences)} sentences, dense index {idx.dense.kind}, "
               f"key {idx.key}, corpus {kb.store.describe()} at {kb.marker[:16]}, in {time.perf_counter() - t0:.1f}s "
               f"-> {build_directory(list(idx.entries), kb.embedder, settings)}")


@app.command("export")
def export_cmd(
    directory: Annotated[Path, typer.Argument(help="where to write <category>.yml (its other *.yml are removed)")],
) -> None:
    """Write the live corpus as YAML (the seed format), one file per category."""
    try:
        entries = open_store(get_kb_settings()).entries()
    except CorpusError as exc:
        typer.echo(f"corpus error: {exc}", err=True)
        raise typer.Exit(2) from None
    written = YamlCorpusStore(directory).export(entries)
    typer.echo(f"exported {len(entries)} entries to {len(written)} files in {directory}")


@app.command("import")
def import_cmd(
    source: Annotated[Path, typer.Argument(help="a YAML corpus directory (e.g. knowledge_base/data) or one file")],
    prune: Annotated[bool, typer.Option("--prune", help="delete live entries that are not in the import")] = False,
    user: Annotated[str, typer.Option(help="recorded in each entry's history")] = "cli",
) -> None:
    """Bring YAML entries into the live corpus (all or nothing): new ids are created, changed ones get a new version,
    each with a revision in its history; every process re-indexes."""
    settings = get_kb_settings()
    if settings.store != "sql":
        typer.echo("import needs the database store (KEFU_KB_STORE=sql)", err=True)
        raise typer.Exit(2)
    if not source.exists():
        typer.echo(f"no such file or directory: {source}", err=True)
        raise typer.Exit(2)
    try:
        entries = load_corpus(source) if source.is_dir() else load_file(source)
        store = open_store(settings)
        assert isinstance(store, SqlCorpusStore)
        result = store.import_entries(entries, user=user, note=f"kefu kb import {source.name}", prune=prune)
    except CorpusError as exc:
        typer.echo(f"corpus error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created {len(result.created)}, updated {len(result.updated)}, unchanged {len(result.unchanged)}, "
               f"deleted {len(result.deleted)}")


def answer_json(ans: KbAnswer) -> dict[str, Any]:
    return {
        "id": ans.hit.id if ans.hit else None,
        "score": round(ans.confidence, 4),
        "decision": ans.decision,
        "answer": ans.hit.answer if ans.hit else None,
        "alternatives": [{"id": h.id, "question": h.question, "score": h.score} for h in ans.alternatives],
    }


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="the shopper's question")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    mode: Annotated[str, typer.Option(help="hybrid | dense | bm25")] = "hybrid",
) -> None:
    """Answer one question."""
    if mode not in MODES:
        typer.echo(f"unknown mode {mode!r}; use one of {', '.join(MODES)}", err=True)
        raise typer.Exit(2)
    if not question.strip():
        typer.echo("question must not be empty", err=True)
        raise typer.Exit(2)
    ans = _open_kb().ask(question, mode=cast(Mode, mode))
    out = answer_json(ans)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    typer.echo(f"[{ans.decision} {ans.confidence:.2f}] {out['id']}")
    if ans.decision == "answer" and ans.hit:
        typer.echo(ans.hit.answer)
    elif ans.decision == "clarify":
        typer.echo("您是不是想问：" + " / ".join(h.question for h in ans.alternatives))


def read_eval_tsv(path: Path) -> list[tuple[str, str]]:
    """Rows of (query, expected id or ``off_topic``); header ``query<TAB>expected`` required."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if reader.fieldnames is None or not {"query", "expected"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: header must contain 'query' and 'expected' columns")
        rows = [(r["query"].strip(), r["expected"].strip()) for r in reader if r.get("query")]
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def evaluate(kb: KnowledgeBase, rows: list[tuple[str, str]], *, mode: Mode = "hybrid",
             progress: bool = False) -> dict[str, Any]:
    """In-scope top-1 (not declined and top hit is the expected id), top-3, off-topic decline rate, latency."""
    known = {e.id for e in kb.entries()}
    unknown = sorted({exp for _, exp in rows if exp != "off_topic" and exp not in known})
    if unknown:
        raise ValueError(f"expected ids not in the corpus: {', '.join(unknown)}")
    lat: list[float] = []
    top1 = top3 = n_in = declined_off = n_off = declined_in = clarified_in = 0
    errors: list[dict[str, Any]] = []
    it: Any = rows
    if progress:
        from tqdm import tqdm

        it = tqdm(rows, desc="eval", unit="q", file=sys.stderr)
    for q, exp in it:
        t0 = time.perf_counter()
        ans = kb.ask(q, mode=mode)
        lat.append((time.perf_counter() - t0) * 1000)
        if exp == "off_topic":
            n_off += 1
            declined_off += ans.decision == "decline"
            if ans.decision != "decline":
                errors.append({"query": q, "expected": exp, "got": ans.hit.id if ans.hit else None,
                               "decision": ans.decision, "confidence": round(ans.confidence, 3)})
            continue
        n_in += 1
        ranked = [h.id for h in kb.search(q, k=3, mode=mode)]
        ok1 = ans.decision != "decline" and ans.hit is not None and ans.hit.id == exp
        top1 += ok1
        top3 += ans.decision != "decline" and exp in ranked
        declined_in += ans.decision == "decline"
        clarified_in += ans.decision == "clarify"
        if not ok1:
            errors.append({"query": q, "expected": exp, "got": ranked[0] if ranked else None,
                           "decision": ans.decision, "confidence": round(ans.confidence, 3)})
    arr = np.asarray(lat)
    return {
        "mode": mode,
        "n_in_scope": n_in,
        "n_off_topic": n_off,
        "top1_accuracy": round(top1 / n_in, 4) if n_in else None,
        "top3_accuracy": round(top3 / n_in, 4) if n_in else None,
        "in_scope_decline_rate": round(declined_in / n_in, 4) if n_in else None,
        "in_scope_clarify_rate": round(clarified_in / n_in, 4) if n_in else None,
        "off_topic_decline_rate": round(declined_off / n_off, 4) if n_off else None,
        "latency_ms_p50": round(float(np.percentile(arr, 50)), 3),
        "latency_ms_p99": round(float(np.percentile(arr, 99)), 3),
        "errors": errors,
    }


@app.command("eval")
def eval_cmd(
    file: Annotated[Path, typer.Argument(help="TSV with columns query, expected (an id or off_topic)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    mode: Annotated[str, typer.Option(help="hybrid | dense | bm25")] = "hybrid",
    show_errors: Annotated[bool, typer.Option("--errors", help="include the misses in the output")] = False,
) -> None:
    """Evaluate on a labelled TSV file."""
    if mode not in MODES:
        typer.echo(f"unknown mode {mode!r}; use one of {', '.join(MODES)}", err=True)
        raise typer.Exit(2)
    if not file.exists():
        typer.echo(f"no such file: {file}", err=True)
        raise typer.Exit(2)
    kb = _open_kb()
    try:
        rows = read_eval_tsv(file)
        res = evaluate(kb, rows, mode=cast(Mode, mode), progress=True)
    except ValueError as exc:
        typer.echo(f"invalid eval file: {exc}", err=True)
        raise typer.Exit(2) from None
    if not show_errors:
        res.pop("errors")
    if as_json:
        typer.echo(json.dumps(res, ensure_ascii=False))
    else:
        for k, v in res.items():
            typer.echo(f"{k}: {v}")


if __name__ == "__main__":  # pragma: no cover
    app()
