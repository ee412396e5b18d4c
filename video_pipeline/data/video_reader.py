"""Choosing qwen_vl_utils' video reader explicitly, and checking it works.

qwen_vl_utils picks a reader once at import and, when it fails on a video, silently
retries with torchvision, whose `io.read_video` no longer exists in torchvision 0.28: the
real error is lost. Here the reader is chosen by config, checked on a generated clip at
start-up, and a failure is reported with the chosen reader's own message.
"""

from __future__ import annotations

import functools
import importlib.util
import tempfile
import threading
from pathlib import Path

from video_pipeline.data import frames
from video_pipeline.errors import SampleError

PREFERENCE = ("torchcodec", "decord")  # fastest first (NOTES: 11-17 ms vs 55-77 ms)

_state = threading.local()
_installed: str | None = None


class ReaderUnavailable(RuntimeError):
    pass


def resolve_reader(name: str) -> str:
    """The reader `name` stands for: itself, or for "auto" the first in PREFERENCE that
    decodes a generated clip here. Readers sample frames differently, so this is what
    the fingerprint records."""
    if name != "auto":
        return name
    return _first_working()


@functools.lru_cache(maxsize=1)
def _first_working() -> str:
    problems = []
    for candidate in PREFERENCE:
        try:
            _check(candidate)
            return candidate
        except ReaderUnavailable as e:
            problems.append(str(e))
    raise ReaderUnavailable("no video reader works:\n  " + "\n  ".join(problems))


def _check(name: str) -> None:
    import qwen_vl_utils.vision_process as vp

    if name not in vp.VIDEO_READER_BACKENDS:
        raise ReaderUnavailable(f"unknown video reader {name!r}")
    module = {"torchcodec": "torchcodec", "decord": "decord", "torchvision": "torchvision"}[name]
    if importlib.util.find_spec(module) is None:
        raise ReaderUnavailable(f"{name}: not installed (pip install {module})")
    try:
        _self_test(_unwrapped(vp.VIDEO_READER_BACKENDS[name]))
    except Exception as e:
        raise ReaderUnavailable(
            f"{name}: fails on a generated clip: {type(e).__name__}: {e}"
        ) from e


def install_reader(name: str) -> str:
    """Make qwen_vl_utils use `name` ("auto": `resolve_reader`); returns the reader."""
    global _installed
    name = resolve_reader(name)
    if _installed == name:
        return name
    import qwen_vl_utils.vision_process as vp

    _check(name)
    original = _unwrapped(vp.VIDEO_READER_BACKENDS[name])
    # The library's own reader is replaced by its chunked twin (same frames, memory
    # bounded by the output) while a dataset sets decode settings; a reader someone
    # else installed is kept as it is.
    library_own = original is getattr(vp, f"_read_video_{name}", None)
    chunked = frames.CHUNKED_READERS.get(name) if library_own else None

    def reader(ele: dict) -> object:
        settings = frames.current_settings()
        try:
            if chunked is not None and settings is not None:
                return chunked(ele, settings)
            if settings is not None and settings.device != "cpu":
                raise SampleError(
                    "internal_error", f"vision.decode_device: {settings.device} needs torchcodec"
                )
            return original(ele)
        except Exception as e:
            _state.error = e
            raise

    def no_fallback(ele: dict) -> object:
        err = getattr(_state, "error", None)
        if isinstance(err, SampleError):  # the reader's own verdict (video_too_large)
            raise err
        raise SampleError("decode_error", f"{name}: {type(err).__name__}: {err}") from err

    reader.__wrapped__ = original  # type: ignore[attr-defined]
    vp.VIDEO_READER_BACKENDS[name] = reader
    if name != "torchvision":
        vp.VIDEO_READER_BACKENDS["torchvision"] = no_fallback
    vp.FORCE_QWENVL_VIDEO_READER = name
    vp.get_video_reader_backend.cache_clear()
    if chunked is not None:
        _install_fetch_video(vp)
    _installed = name
    return name


def _install_fetch_video(vp: object) -> None:
    """`process_vision_info` looks `fetch_video` up as a module global: while decode
    settings are set, a video file goes through frames.fetch_video (the same frames,
    uint8: no float32 copy of the stack); a `fetch_video` someone else installed is
    kept as it is, as a reader is."""
    original = vp.fetch_video  # type: ignore[attr-defined]
    if getattr(original, "__module__", None) != vp.__name__:  # type: ignore[attr-defined]
        return  # someone else's, or ours already

    def fetch_video(ele: dict, *args: object, **kwargs: object) -> object:
        if frames.current_settings() is None or not isinstance(ele.get("video"), str):
            return original(ele, *args, **kwargs)
        return frames.fetch_video(ele, *args, **kwargs)  # type: ignore[arg-type]

    fetch_video.__wrapped__ = original  # type: ignore[attr-defined]
    vp.fetch_video = fetch_video  # type: ignore[attr-defined]


def _unwrapped(fn: object) -> object:
    return getattr(fn, "__wrapped__", fn)


def _self_test(read: object) -> None:
    from video_pipeline.fixtures.videos import make_video

    with tempfile.TemporaryDirectory() as tmp:
        path = make_video(Path(tmp) / "probe.mp4", seconds=1.0, fps=4, width=32, height=32)
        video, _meta, _fps = read({"video": str(path), "fps": 2.0})  # type: ignore[operator]
        if video.shape[0] < 2:
            raise RuntimeError(f"decoded {video.shape[0]} frames from a 4-frame clip")
