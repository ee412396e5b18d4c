"""Parquet export of crafted records: columns, types, shards, and `datasets` loading it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq

from tests.quality.test_quality import ok, write
from video_pipeline.export import export_parquet, shard_paths
from video_pipeline.quality import RecordSource


def records() -> list[dict]:
    recs = []
    for i in range(25):
        r = ok(f"v{i}.mp4", f"answer {i}", result={"summary": f"s{i}", "objects": ["a", f"o{i}"]})
        r["raw"] = {"path": f"v{i}.mp4", "meta": {"i": i}, "score": i if i % 2 else i + 0.5}
        recs.append(r)
    recs[3]["clip"] = {"index": 1, "start": 4.0, "end": 8.0}
    recs[3]["video_key"] = "v3.mp4"
    recs[4]["raw"]["key"] = "a field named like a column"
    recs.append(
        {
            "__key": "line:9",
            "status": "error",
            "fingerprint": "fp",
            "raw": None,
            "text": None,
            "result": None,
            "error": {"kind": "bad_row", "message": "not JSON", "transient": False},
        }
    )
    return recs


def load(files: list[str], tmp_path: Path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    return datasets.load_dataset(
        "parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf")
    )


def test_round_trip_through_datasets(tmp_path: Path) -> None:
    src = RecordSource((str(write(tmp_path / "out.jsonl", records())),))
    out, errors = str(tmp_path / "x" / "res.parquet"), str(tmp_path / "x" / "err.parquet")
    report = export_parquet(src, out, errors, rows_per_file=10)
    assert report.rows == 25 and report.error_rows == 1
    assert [Path(f).name for f in report.files] == [
        f"res-{i:05d}-of-00003.parquet" for i in range(3)
    ]
    assert [pq.ParquetFile(f).metadata.num_rows for f in report.files] == [10, 10, 5]
    ds = load(report.files, tmp_path)
    assert ds["key"] == [f"v{i}.mp4" for i in range(25)]
    cols = ds.column_names
    assert cols[:5] == ["key", "video_key", "clip_index", "clip_start", "clip_end"]
    assert {"summary", "objects", "prompt_tokens", "finish_reason", "fingerprint"} <= set(cols)
    assert {"path", "meta", "score", "raw_key"} <= set(cols)  # the input row's fields
    # only the columns the run has: these records carry no decode or engine times
    assert not {"decode_s", "engine_s"} & set(cols)
    row = ds[3]
    assert (row["clip_index"], row["clip_start"], row["clip_end"]) == (1, 4.0, 8.0)
    assert row["objects"] == ["a", "o3"] and row["summary"] == "s3"
    assert json.loads(row["meta"]) == {"i": 3}  # mappings are JSON text
    assert ds.features["score"].dtype == "float64" and ds[1]["score"] == 1.0
    assert ds[4]["raw_key"] == "a field named like a column"
    errs = load(report.error_files, tmp_path / "e")
    assert errs["key"] == ["line:9"] and errs["error_kind"] == ["bad_row"]
    assert "prompt_tokens" not in errs.column_names  # no error record has tokens


def test_no_results_still_writes_a_loadable_file(tmp_path: Path) -> None:
    src = RecordSource((str(write(tmp_path / "out.jsonl", records()[-1:])),))
    report = export_parquet(src, str(tmp_path / "res.parquet"))
    assert report.rows == 0 and pq.ParquetFile(report.files[0]).metadata.num_rows == 0


def test_shard_names() -> None:
    assert shard_paths("a/b.parquet", 5, None) == ["a/b.parquet"]
    assert shard_paths("a/b.parquet", 0, 3) == ["a/b-00000-of-00001.parquet"]
    assert shard_paths("b.parquet", 7, 3)[-1] == "b-00002-of-00003.parquet"
