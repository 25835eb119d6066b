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
