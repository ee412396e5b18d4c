"""The clips CLI: expand a config's input, roll a merged run up per video."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import write_config
from video_pipeline.cli.clips import main


def test_expand_then_rollup(clip_videos, tmp_path: Path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"path": str(clip_videos["long"])}) + "\n")
    out = tmp_path / "out.describe.jsonl"
    cfg = write_config(
        tmp_path / "c.yaml",
        {
            "data": {"input_jsonl": str(src), "output_jsonl": str(out)},
            "vllm": {"model": "m"},
            "clips": {"mode": "fixed", "seconds": 60},
        },
    )
    assert main(["expand", "--config", str(cfg)]) == 0
    rows = [json.loads(x) for x in (tmp_path / "out.describe.clips.jsonl").read_text().splitlines()]
    assert len(rows) == 5
    done = rows[:4]  # as merge writes them: the last clip is not done yet
    out.write_text(
        "".join(
            json.dumps({"__key": r["__key"], "status": "ok", "fingerprint": "f", "raw": r}) + "\n"
            for r in done
        )
    )
    (tmp_path / "out.describe.errors.jsonl").write_text("")
    assert main(["rollup", "--config", str(cfg)]) == 3  # one clip pending
    (video,) = [
        json.loads(x) for x in (tmp_path / "out.describe.videos.jsonl").read_text().splitlines()
    ]
    assert [c["status"] for c in video["clips"]] == ["ok"] * 4 + ["pending"]
    with pytest.raises(SystemExit) as e:
        main(["expand", "--config", str(cfg), "--set", "clips.mode=none"])
    assert e.value.code == 2
