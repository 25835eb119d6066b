"""latentedit's error types for bad input, all under one base the CLI turns into one line and exit status 1.

- :class:`LatenteditInputError`: the base; every error latentedit raises for a bad file, flag or value derives
  from it (checkpoints, model files, photos, latents, edits, configs, plugins' files). Its message is one line.
- :class:`InputFileError`: a named file could not be used (``"<path>: <problem>"``).
- :class:`CheckpointError`: a checkpoint could not be read (an :class:`InputFileError`).
"""

from __future__ import annotations


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


class LatenteditInputError(ValueError):
    """Bad input (a file, a flag, a value): the message says what was expected, what arrived, what to do.

    The CLI prints it as ``Error: <message>`` on one line and exits 1; no traceback.
    """


class InputFileError(LatenteditInputError):
    """A file could not be used: the message is one line that starts with the file's path."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = one_line(problem)  # always one line
        super().__init__(f"{self.path}: {self.problem}")

    def __reduce__(self):
        return type(self), (self.path, self.problem)


class CheckpointError(InputFileError):
    """A checkpoint could not be read: not a checkpoint, truncated, unknown layout, keys that do not fit the
    network (missing / unexpected / mis-shaped, with expected and found shapes) or a refused pickle global.

    The message is one line that starts with the file's path; no code from the file has run.
    """



class EditingError(LatenteditInputError):
    """A step of the editing pipeline (photos -> W+ -> edits -> images -> pasted photos) cannot run: a model file
    that no plugin reads, a mapper made for another generator, an unknown attribute, a missing optional hook.

    The message is one line saying what was expected, what arrived and what to do. ``latentedit.editing`` raises
    it (and its subclasses ``EditError`` and ``SamplingError``); photos that cannot be read raise
    ``latentedit.faces.PhotoError`` and checkpoints ``CheckpointError``, all ``ValueError``s.
    """

    def __init__(self, message: str):
        super().__init__(one_line(message))
