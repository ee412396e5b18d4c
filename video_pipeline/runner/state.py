"""The run's identity on disk: fingerprint sidecar, stale journals set aside."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path

from video_pipeline.config.schema import Config
from video_pipeline.fingerprint import fingerprint, payload
from video_pipeline.io.atomic import write_json
from video_pipeline.io.journal import journal_paths, output_stem, read_head
from video_pipeline.strips import strips_path

log = logging.getLogger("video_pipeline")


def state_path(cfg: Config) -> Path:
    return Path(f"{output_stem(cfg.data.output_jsonl)}.run.json")


def prepare_output(cfg: Config) -> str:
    """Before ranks start: set aside journals that must not be resumed; returns the fingerprint.

    Journals written under another fingerprint (model, prompt, sampling or vision
    changed), or any journal when `data.resume` is false, are moved to
    `<stem>.stale/<time>/`, never deleted, so nothing a user paid GPU-hours for is lost.
    """
    fp = fingerprint(cfg)
    state = state_path(cfg)
    state.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if state.exists():
        try:
            old = json.loads(state.read_text()).get("fingerprint")
        except (OSError, json.JSONDecodeError):
            old = None
    journals = journal_paths(cfg.data.output_jsonl)
    reason = None
    if journals and not cfg.data.resume:
        reason = "data.resume is false"
    elif journals and old is not None and old != fp:
        reason = f"the config fingerprint changed ({old} -> {fp})"
    if reason:
        dest = Path(f"{output_stem(cfg.data.output_jsonl)}.stale") / time.strftime("%Y%m%d-%H%M%S")
        dest.mkdir(parents=True, exist_ok=True)
        for j in journals:
            os.replace(j, dest / j.name)
            strips = strips_path(j)  # its thumbnails (strips.py) go with it
            if strips.exists():
                os.replace(strips, dest / strips.name)
        log.warning("starting fresh (%s): moved %d journal(s) to %s", reason, len(journals), dest)
    write_json(
        state,
        {
            "fingerprint": fp,
            "task": cfg.run.task,
            "fingerprint_of": payload(cfg),
            "config": cfg.shown(),
        },
        default=str,
    )
    return fp


# The readers `vision.reader: auto` may resolve to, in data.video_reader.PREFERENCE's
# order (not imported from there: that package imports torch and the datasets).
AUTO_READERS = ("torchcodec", "decord")


def recorded_fingerprint(cfg: Config) -> str:
    """The fingerprint of `cfg` as its run computed it, without starting a video decoder.

    Only `vision.reader: auto` needs a decoder to resolve (a run tries each reader on a
    generated clip). Commands that only read a run's records (export, verify, report)
    take the reader whose fingerprint the run recorded (`<stem>.run.json`, else the
    first record of the merged output or of a journal); with nothing recorded, the first
    installed candidate, which is what a working install resolves to.
    """
    if cfg.vision.reader != "auto":
        return fingerprint(cfg)
    candidates = {fingerprint(cfg, reader): reader for reader in AUTO_READERS}
    for fp in _recorded_fingerprints(cfg):
        if fp in candidates:
            return fp
    import importlib.util

    installed = [r for r in AUTO_READERS if importlib.util.find_spec(r) is not None]
    return fingerprint(cfg, (installed or AUTO_READERS)[0])


def _recorded_fingerprints(cfg: Config) -> list[str]:
    out = []
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        out.append(str(json.loads(state_path(cfg).read_text())["fingerprint"]))
    decoder = json.JSONDecoder()
    for path in [Path(cfg.data.output_jsonl), *journal_paths(cfg.data.output_jsonl)]:
        try:
            with open(path, "rb") as f:
                head = read_head(f.readline(), decoder)
        except OSError:
            continue
        if head is not None:
            out.append(head.fingerprint)
    return out
