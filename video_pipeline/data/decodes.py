"""One sample's decodes, shared by every task it serves: frames by their settings, the
soundtrack by its file and clip.

The tasks on one engine may take different things of a video: its frames (a caption),
its frames and audio (an Omni model hearing it), its audio alone (a transcript). Each
distinct set of frames is decoded once, and each soundtrack once, over the widest
range any task needs (`plan`): a task that hears the first 30 s and one that
transcribes the whole clip take slices of one decode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from video_pipeline.data.audio import AudioTrack, load_audio


@dataclass(frozen=True)
class AudioNeed:
    """What a task hears of a video file: from `start` to `end` seconds (None: the
    clip's or file's end)."""

    path: str
    start: float
    end: float | None


@dataclass
class SampleDecodes:
    frames: dict[str, dict[str, Any]] = field(default_factory=dict)
    tracks: dict[tuple[str, float], AudioTrack | None] = field(default_factory=dict)
    ends: dict[tuple[str, float], float | None] = field(default_factory=dict)
    count: int = 0  # passes over the file: each set of frames, each soundtrack

    def plan(self, needs: list[AudioNeed | None]) -> None:
        """The soundtracks to decode: per file and start, to the latest end asked for."""
        for need in needs:
            if need is None:
                continue
            at = (need.path, need.start)
            if at not in self.ends:
                self.ends[at] = need.end
            elif self.ends[at] is not None:
                self.ends[at] = None if need.end is None else max(need.end, self.ends[at])

    def vision(self, key: str, decode: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The decoded frames for `key` (the elements and the settings that size them),
        decoded on first use: tasks with equal keys get the very same tensors."""
        if key not in self.frames:
            self.frames[key] = decode()
            self.count += 1
        return self.frames[key]

    def audio(self, need: AudioNeed) -> AudioTrack | None:
        """The soundtrack from `need.start` to `need.end`: a slice of the planned decode
        (one per file and start); None when the file has no audio track."""
        at = (need.path, need.start)
        if at not in self.ends:  # asked for without a plan: decoded as asked
            self.ends[at] = need.end
        if at not in self.tracks:
            track = load_audio(need.path, need.start, self.ends[at])
            self.tracks[at] = track
            self.count += track is not None
        track = self.tracks[at]
        if track is None or need.end is None:
            return track
        n = max(0, round((need.end - track.start) * track.sample_rate))
        if n >= len(track.samples):
            return track
        return AudioTrack(track.samples[:n], track.sample_rate, track.start)
