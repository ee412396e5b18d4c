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

# VP_RECORD_CUDA=<folder>: every call of torch.cuda.is_available / device_count /
# _lazy_init is appended to <folder>/<pid>.jsonl with whether
# PYTORCH_NVML_BASED_CUDA_CHECK was "1" at that moment. The first import of vllm (which
# sets that variable itself) records the package code that imported it, then ends the
# process with status 0: the start-up before any engine is what is under test.
_cuda_record = os.environ.get("VP_RECORD_CUDA")
if _cuda_record:
    import functools
    import importlib.abc
    import importlib.util
    import json
    import sys
    import traceback

    def _note(entry):
        with open(os.path.join(_cuda_record, f"{os.getpid()}.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")

    def _recorded(name, fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            nvml = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1"
            _note({"call": name, "nvml": nvml, "argv": sys.argv})
            return fn(*args, **kwargs)

        return call

    def _vllm_imported():
        frames = [
            f"{os.path.basename(f.filename)}:{f.name}"
            for f in traceback.extract_stack()
            if f"{os.sep}video_pipeline{os.sep}" in f.filename
        ]
        _note({"vllm_from": frames, "argv": sys.argv})
        os._exit(0)

    def _cuda_imported(module):
        for fn in ("is_available", "device_count", "_lazy_init"):
            setattr(module, fn, _recorded(fn, getattr(module, fn)))

    class _Watch(importlib.abc.MetaPathFinder):
        """Runs a hook when torch.cuda or vllm is imported (not merely looked up)."""

        def find_spec(self, name, path, target=None):
            if name not in ("torch.cuda", "vllm"):
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module

            def exec_module(module):
                if name == "vllm":
                    _vllm_imported()  # ends the process
                run(module)
                _cuda_imported(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Watch())
