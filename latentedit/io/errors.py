"""The one error type every checkpoint reader raises: a single line naming the file and the problem."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint could not be read: not a checkpoint, truncated, unknown layout, keys that do not fit the
    network (missing / unexpected / mis-shaped, with expected and found shapes) or a refused pickle global.

    The message is one line that starts with the file's path; no code from the file has run.
    """

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.path}: {self.problem}")


class EditingError(ValueError):
    """A step of the editing pipeline (photos -> W+ -> edits -> images -> pasted photos) cannot run: a model file
    that no plugin reads, a mapper made for another generator, an unknown attribute, a missing optional hook.

    The message is one line saying what was expected, what arrived and what to do. ``latentedit.editing`` raises
    it (and its subclasses ``EditError`` and ``SamplingError``); photos that cannot be read raise
    ``latentedit.faces.PhotoError`` and checkpoints ``CheckpointError``, all ``ValueError``s.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
