"""Errors the page's user can fix, and the HTTP status each gets: serve's own ``PipelineInputError`` (unknown ids,
a method that cannot do what was asked) and the library's one-line errors (``latentedit.editing``'s
``EditingError``/``EditError``/``SamplingError``, ``PhotoError``, ``CheckpointError``, ``DomainError``)."""

from __future__ import annotations

from latentedit.domains import DomainError
from latentedit.editing import EditError, EditingError, PhotoError
from latentedit.io.errors import CheckpointError


class PipelineInputError(ValueError):
    """Input the server cannot use (unknown id or method, no encoder); ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


#: Every error a request can end in that is the input's fault, not a bug (4xx, never 500).
USER_ERRORS: tuple[type[Exception], ...] = (PipelineInputError, EditingError, PhotoError, CheckpointError,
                                            DomainError)

#: Command-line wording in library messages -> what the page calls the same thing.
PAGE_WORDS = {"pass --no-align": "untick 'align face'", "--no-align": "'align face' unticked",
              "--mode random": "the 'random' mode", "--pool": "the pool"}


def http_status(exc: BaseException) -> int:
    """400 for a request that names what does not exist (an attribute), 422 for input the pipeline cannot use
    (no face, a row it cannot sample: ``SamplingError``), ``exc.status`` for ``PipelineInputError``."""
    if isinstance(exc, PipelineInputError):
        return exc.status
    return 400 if isinstance(exc, EditError) else 422


def user_message(exc: BaseException) -> str:
    """The error's one line, with command-line flags put in the page's words."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for flag, words in PAGE_WORDS.items():
        text = text.replace(flag, words)
    return text
