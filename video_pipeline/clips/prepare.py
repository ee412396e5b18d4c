"""A config's clip rows: where they live, and expanding the input once for every rank.

`launch` calls `prepare_clip_rows(cfg)` before it starts the ranks; the ranks, merge,
verify and preflight then read the clip-row file as their input. The file is reused
while its input, the clips settings and the key fields are unchanged (a stamp beside
it says what it was made from), so a rerun after a crash does not probe again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from video_pipeline.clips.expand import ExpandOptions, is_expansion_row
from video_pipeline.clips.files import ExpandReport, expand_file
from video_pipeline.config.schema import TASK_PLACEHOLDER, Config
from video_pipeline.io.atomic import write_json
from video_pipeline.io.journal import output_stem
from video_pipeline.io.jsonl import iter_lines


@dataclass(frozen=True)
class ClipFiles:
    rows: Path  # the clip rows: the ranks' input
    probes: Path  # one line per input row: duration, how probed, clips, error
    stamp: Path  # what the rows were made from

    @classmethod
    def of(cls, output_jsonl: str) -> ClipFiles:
        """Beside the output: `<stem>.clips.jsonl`. With `{task}` in the output, several
        tasks share one expansion and the placeholder becomes `_clips`, a name no task
        can have (task names start with a letter or digit)."""
        stem = output_stem(output_jsonl)
        if TASK_PLACEHOLDER in stem:
            stem = stem.replace(TASK_PLACEHOLDER, "_clips")
        else:
            stem += ".clips"
        return cls.beside(f"{stem}.jsonl")

    @classmethod
    def beside(cls, rows: str | Path) -> ClipFiles:
        """The files of the clip rows `rows` (`<x>.jsonl`: `<x>.probes.jsonl`, `<x>.json`)."""
        stem = output_stem(rows)
        return cls(Path(f"{stem}.jsonl"), Path(f"{stem}.probes.jsonl"), Path(f"{stem}.json"))


def prepare_clip_rows(
    cfg: Config, output_jsonl: str | None = None, workers: int = 0
) -> tuple[ClipFiles, ExpandReport | None]:
    """The clip rows of `cfg`'s input, expanded unless an up-to-date copy exists; the
    report is None when the copy was reused. `cfg.clips` must be on."""
    if not cfg.clips.enabled:
        raise ValueError("clips.mode is none: the input rows are the samples")
    if is_expanded(cfg.data.input_jsonl):  # clip rows already (a workflow's clip shard)
        return ClipFiles.beside(cfg.data.input_jsonl), None
    files = ClipFiles.of(output_jsonl or cfg.data.output_jsonl)
    stamp = _stamp(cfg)
    if is_current(cfg, files):
        return files, None
    options = ExpandOptions(cfg.clips, cfg.data.video_field, cfg.data.id_field, cfg.data.video_dir)
    report = expand_file(cfg.data.input_jsonl, files.rows, options, files.probes, workers)
    write_json(files.stamp, {**stamp, "report": report.to_dict()})
    return files, report


def is_expanded(path: str | Path) -> bool:
    """Whether a JSONL holds rows that expansion wrote (clip rows, and error rows of
    videos that could not be probed): expanding them again would change nothing, so
    they are their own clip rows. Its first row decides; an empty file has nothing to
    expand either."""
    for _offset, _lineno, line in iter_lines(path):
        try:
            row = json.loads(line)
        except ValueError:
            return False
        return isinstance(row, dict) and is_expansion_row(row)
    return True


def is_current(cfg: Config, files: ClipFiles) -> bool:
    """Whether `files` hold the clip rows of `cfg`'s input as it is now."""
    if is_expanded(cfg.data.input_jsonl):
        return files.rows == Path(cfg.data.input_jsonl)
    return files.rows.is_file() and _read_stamp(files.stamp) == _stamp(cfg)


def _stamp(cfg: Config) -> dict[str, Any]:
    src = Path(cfg.data.input_jsonl)
    st = src.stat()
    return {
        "input": str(src.resolve()),
        "input_size": st.st_size,
        "input_mtime_ns": st.st_mtime_ns,
        "clips": cfg.clips.fingerprint_payload(),
        "video_field": cfg.data.video_field,
        "id_field": cfg.data.id_field,
        "video_dir": cfg.data.video_dir,
    }


def _read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        stamp = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    stamp.pop("report", None)
    return stamp
