"""Hard cuts of a video, found by PySceneDetect's content detector.

PySceneDetect decodes through its PyAV backend (PyAV is already the pipeline's
dependency): no second decoder library, and no silent fallback to OpenCV's own decoder,
which `scenedetect.open_video` would do when PyAV fails.
"""

from __future__ import annotations

from video_pipeline.errors import SampleError


class ShotsUnavailable(RuntimeError):
    """PySceneDetect is not installed: a set-up problem, not a property of one video."""


def require_shots() -> None:
    """Fail once, up front, when `clips.mode: shots` cannot run here."""
    try:
        import scenedetect  # noqa: F401
    except ImportError as e:
        raise ShotsUnavailable(
            "clips.mode: shots needs PySceneDetect: pip install 'scenedetect-headless==0.7.2'"
        ) from e


def detect_cuts(
    location: str, start: float = 0.0, end: float | None = None, min_shot: float = 0.0
) -> list[float]:
    """Times (seconds of the file) where a new shot begins, within `(start, end)`.

    A cut is reported at the first frame of the new shot, so it lies within one frame
    interval after the true change. A cut less than `min_shot` seconds after the one
    before is dropped by the detector's own filter (the detector's default, 15 frames,
    would hide cuts of short shots at low frame rates).
    """
    require_shots()
    from scenedetect import ContentDetector, SceneManager
    from scenedetect.backends.pyav import VideoStreamAv

    try:
        # suppress_output keeps PyAV's log handler as the pipeline set it (PySceneDetect
        # otherwise restores FFmpeg's default one); safe without threading_mode.
        video = VideoStreamAv(location, suppress_output=True)
        if start > 0:
            video.seek(start)
        manager = SceneManager()
        # min_scene_len: seconds as a float, frames as an int (1: keep every cut).
        manager.add_detector(ContentDetector(min_scene_len=min_shot if min_shot > 0 else 1))
        manager.detect_scenes(video, end_time=end)
        scenes = manager.get_scene_list(start_in_scene=True)
    except SampleError:
        raise
    except Exception as e:  # PySceneDetect and PyAV raise many types on a broken file
        raise SampleError("decode_error", f"shot detection failed: {type(e).__name__}: {e}") from e
    cuts = [float(s.seconds) for s, _ in scenes[1:]]
    return [t for t in cuts if t > start and (end is None or t < end)]
