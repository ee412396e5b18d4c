"""qwen_vl_utils' per-video lines and its misleading fallback warning stay out of the log.

Real decodes through `process_vision_info` with the project's reader installed, in a
subprocess whose log goes to stderr as a rank's does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO
from video_pipeline.fixtures.videos import make_video

SCRIPT = """
import logging, sys
from video_pipeline.cli.common import setup_logging
from video_pipeline.data.video_reader import install_reader
setup_logging()
install_reader("torchcodec")
from qwen_vl_utils import process_vision_info
for path in sys.argv[1:]:
    msg = [{"role": "user", "content": [{"type": "video", "video": path, "fps": 2.0}]}]
    try:
        process_vision_info(msg, return_video_kwargs=True, return_video_metadata=True)
        logging.getLogger("video_pipeline").info("decoded %s", path)
    except Exception as e:
        logging.getLogger("video_pipeline").info("failed %s: %s", path, type(e).__name__)
"""


def _run(tmp_path: Path, debug: bool) -> str:
    good = make_video(tmp_path / "good.mp4", seconds=1.0, fps=4, width=32, height=32)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("VP_LOG_LEVEL", None)
    if debug:
        env["VP_LOG_LEVEL"] = "DEBUG"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(good), str(bad)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    )
    return proc.stderr


def test_per_video_lines_go_to_debug_and_no_false_fallback(tmp_path: Path) -> None:
    log = _run(tmp_path, debug=False)
    assert "decoded" in log and "failed" in log and "SampleError" in log  # both ran
    for noise in ("TORCHCODEC_NUM_THREADS", "torchcodec:", "calculate video frame range"):
        assert noise not in log
    assert "use torchvision as default" not in log  # the hook reports the real error
    debug = _run(tmp_path, debug=True)
    assert "TORCHCODEC_NUM_THREADS" in debug and "torchcodec:" in debug
