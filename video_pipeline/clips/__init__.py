"""Long videos as clips: probe a video's duration, split it into fixed windows or shots,
expand each input row into clip rows, and roll clip records up per video.

    probe.py   duration from the container, checked; a decode when it lies
    spans.py   fixed windows and shots covering [start, end) with no gap
    shots.py   hard cuts found by PySceneDetect (PyAV backend)
    expand.py  one row -> its clip rows (keys, bounds, `clip`, `video_key`)
    files.py   an input JSONL -> a clip-row JSONL and a probe report
    prepare.py a config's clip rows, expanded once and reused
    run.py     the configs a run over the clip rows uses (ranks, merge, verify, preflight)
    rollup.py  a task's clip records -> one line per video
    summary.py the summary pass: one text-only sample per video from its captions
"""

from video_pipeline.clips.expand import (
    CLIP_FIELD,
    DURATION_FIELD,
    VIDEO_KEY_FIELD,
    ExpandOptions,
    Expansion,
    expand_row,
)
from video_pipeline.clips.files import ExpandReport, expand_file
from video_pipeline.clips.probe import VideoProbe, probe_video, video_location
from video_pipeline.clips.rollup import RollupReport, write_rollup
from video_pipeline.clips.spans import Clip, covering_problems, fixed_windows, shot_windows

__all__ = [
    "CLIP_FIELD",
    "DURATION_FIELD",
    "VIDEO_KEY_FIELD",
    "Clip",
    "ExpandOptions",
    "ExpandReport",
    "Expansion",
    "RollupReport",
    "VideoProbe",
    "covering_problems",
    "expand_file",
    "expand_row",
    "fixed_windows",
    "probe_video",
    "shot_windows",
    "video_location",
    "write_rollup",
]
