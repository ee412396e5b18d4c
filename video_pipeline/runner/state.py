"""The run's identity on disk: fingerprint sidecar, stale journals set aside."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from video_pipeline.config.schema import Config
from video_pipeline.fingerprint import fingerprint, payload
from video_pipeline.io.atomic import write_json
from video_pipeline.io.journal import journal_paths, output_stem

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
