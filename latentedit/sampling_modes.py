"""Moved to ``latentedit.editing.sampling``; this alias keeps old imports working until every caller is updated."""

from latentedit.editing.sampling import *  # noqa: F401,F403
from latentedit.editing.sampling import __all__  # noqa: F401
