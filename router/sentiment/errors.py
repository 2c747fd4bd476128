"""Domain exceptions of the sentiment component; the edges (CLI, gateway) turn them into messages or statuses."""

from __future__ import annotations

from pathlib import Path


class SentimentError(Exception):
    """Base class of every error raised by ``router.sentiment``."""


class ModelNotBuilt(SentimentError):
    """The trained artifact is missing (the repository ships one; ``kefu sentiment train`` rebuilds it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"sentiment model not found at {path}; the repository ships router/sentiment/model/sentiment.npz, "
            f"or build one with `kefu sentiment train --out {path}`"
        )


class ModelFormatError(SentimentError):
    """The artifact exists but is not a model written by this version of ``kefu sentiment train``."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path} is not a usable sentiment model ({detail}); rebuild it with `kefu sentiment train`")


class DatasetsNotFound(SentimentError):
    """A public data set needed for training or evaluation is missing."""

    def __init__(self, path: Path, hint: str = "") -> None:
        self.path = path
        message = f"data set not found: {path}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class EvalFileError(SentimentError):
    """An evaluation TSV is malformed (missing columns, unknown labels, empty)."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")
