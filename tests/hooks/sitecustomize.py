"""Test hook, loaded by Python at start-up when this folder is on PYTHONPATH.

VP_PAUSE_AFTER_RENAME=<suffix> with VP_PAUSE_MARKER=<file>: the first `os.replace`
onto a path ending with <suffix> is done, then the marker file is created and the
process waits to be killed, between that rename and the next. Tests use it to kill a
merge or a finalize at the worst moment.
"""

import os
import threading

_suffix = os.environ.get("VP_PAUSE_AFTER_RENAME")
if _suffix:
    _replace = os.replace

    def _pausing_replace(src, dst, *args, **kwargs):
        _replace(src, dst, *args, **kwargs)
        if str(dst).endswith(_suffix):
            open(os.environ["VP_PAUSE_MARKER"], "w").close()
            threading.Event().wait()  # killed here

    os.replace = _pausing_replace
