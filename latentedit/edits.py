"""Moved to ``latentedit.editing.edits``; this alias keeps old imports working until every caller is updated."""

from latentedit.editing.edits import *  # noqa: F401,F403
from latentedit.editing.edits import __all__  # noqa: F401
