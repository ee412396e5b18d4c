"""The report folder without a browser: where it may write, what it selects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.quality.test_quality import ok, write
from video_pipeline.config import load_config
from video_pipeline.config.schema import QualityConfig
from video_pipeline.quality import RecordSource, scan_task
from video_pipeline.report.build import MARKER, ReportError, TaskInput, build_report, select


def test_never_writes_into_a_folder_that_is_not_a_report(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.csv").write_text("x")
    cfg = load_config(
        data={"data": {"input_jsonl": "i.jsonl", "output_jsonl": "o.jsonl"}, "vllm": {"model": "m"}}
    )
    with pytest.raises(ReportError, match="is not a report folder"):
        build_report([TaskInput("describe", cfg, RecordSource(()))], tmp_path)
    assert (tmp_path / "data" / "precious.csv").exists() and not (tmp_path / MARKER).exists()


def test_selection_keeps_every_error_up_to_the_cap_and_a_stable_sample(tmp_path: Path) -> None:
    recs = [
        ok(f"v{i}", f"answer {i} " * 3, finish="length" if i % 2 else "stop") for i in range(300)
    ]
    recs += [
        {
            "__key": f"e{i}",
            "status": "error",
            "fingerprint": "fp",
            "raw": None,
            "text": None,
            "result": None,
            "error": {"kind": "decode_error", "message": "x"},
        }
        for i in range(40)
    ]
    src = RecordSource((str(write(tmp_path / "o.jsonl", recs)),))
    scan = scan_task("describe", src, QualityConfig(), "path")
    shown = select(scan, max_errors=25, per_category=10)
    errors = shown[~scan.ok[shown]]
    assert len(errors) >= 25 and list(errors[:25]) == list(range(300, 325))
    assert np.array_equal(shown, select(scan, max_errors=25, per_category=10))  # stable
    assert len(shown) <= 25 + 10 * 7
    truncated = [i for i in shown if "truncated" in scan.flag_names(int(i))]
    assert len(truncated) >= 10


def test_a_histogram_of_one_value_is_a_narrow_bar_on_whole_numbers() -> None:
    from video_pipeline.report import charts

    spec = charts.histogram(np.full(50, 900), "prompt tokens", "tokens").to_dict()
    (row,) = spec["data"]["values"]
    assert (row["start"], row["end"], row["count"]) == (899.5, 900.5, 50)
    lo, hi = spec["encoding"]["x"]["scale"]["domain"]
    assert lo < 899 and hi > 901  # room either side, not one bar stretched over the axis
    assert spec["encoding"]["x"]["axis"]["tickMinStep"] == 1
    wide = charts.histogram(np.arange(0, 10_000), "t", "tokens").to_dict()
    assert len(wide["data"]["values"]) <= 30 and "scale" not in wide["encoding"]["x"]
