"""Recorded runs: reading session files (migrations, damage), the collection of them
(samples, names, tags), replay at the recorded pace, digests and exports, re-runs.

Writing happens as a run happens, in ``runtime.record``; the names most callers
need are here.
"""

from ..runtime.record import KINDS, SCHEMA_VERSION, SUFFIX, SessionWriter, save_snapshot
from .log import MIGRATIONS, SessionLog, migrate, read_session
from .store import find, is_sample, read_meta, remove, samples_dir, session_files, write_meta

__all__ = [
    "KINDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SUFFIX",
    "SessionLog",
    "SessionWriter",
    "find",
    "is_sample",
    "migrate",
    "read_meta",
    "read_session",
    "remove",
    "samples_dir",
    "save_snapshot",
    "session_files",
    "write_meta",
]
