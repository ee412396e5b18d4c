"""The Omni families: Qwen2.5-Omni and Qwen3-Omni (MoE), which also hear a video's audio.

vLLM 0.32 serves their thinker (`qwen2_5_omni_thinker.py`, `qwen3_omni_moe_thinker.py`:
text out, no speech). The video geometry is Qwen2.5-VL's (patch 14) or Qwen3-VL's (patch
16); the video's placeholder becomes one `<|VIDEO|>` per merged patch, without Qwen3-VL's
timestamps. With `use_audio_in_video` the request carries the video's audio as a second
item (`(samples, 16000)`) and vLLM replaces the placeholder by `<|audio_bos|>`, the video
and audio pads interleaved in 2-second chunks, `<|audio_eos|>`: the same count as the
HF processor's. Audio tokens come from the Whisper feature extractor's mel frames (one
per 160 samples; Qwen2.5-Omni's keeps the first 30 s) through the audio encoder's
strides. The dataset sends whole hops only (`whole_hops`): vLLM pads Qwen3-Omni's audio
to a whole hop where the HF processor does not, so a partial last hop would make their
counts differ by one token.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from video_pipeline.data.audio import SAMPLE_RATE
from video_pipeline.models.profile import ModelProfile

HOP_LENGTH = 160  # WhisperFeatureExtractor: one mel frame per 10 ms at 16 kHz
MAX_AUDIO_S = 30.0  # the feature extractor's chunk_length: longer audio is truncated


@dataclass(frozen=True)
class OmniProfile(ModelProfile):
    """A family that hears: audio tokens as the thinker's audio encoder makes them."""

    hears: bool = True
    audio_markers: int = 2  # <|audio_bos|> and <|audio_eos|> added around the interleave
    sample_rate: int = SAMPLE_RATE
    max_audio_s: float | None = MAX_AUDIO_S

    def with_config(self, config: Mapping[str, Any]) -> ModelProfile:
        """The sizes sit under `thinker_config` in an Omni checkpoint's config.json."""
        thinker = config.get("thinker_config")
        vision = thinker.get("vision_config") if isinstance(thinker, Mapping) else None
        return self.with_geometry(vision) if isinstance(vision, Mapping) else self

    def video_kwargs(self, videos: list[Any]) -> dict[str, Any]:
        """The rate the frames were sampled at: the Omni processors place each temporal
        group at `temporal_patch / fps` seconds (to line it up with the audio) and
        assume 2 fps when not told; vLLM's Qwen2.5-Omni lays the interleave out from
        `second_per_grid_ts` (else 1 s per group). Both from the frames' metadata."""
        rates = [_sample_fps(v[1]) for v in videos if isinstance(v, tuple)]
        if not rates or None in rates or len(set(rates)) > 1:
            return {}
        fps = rates[0]
        return {
            "fps": fps,
            "second_per_grid_ts": [self.temporal_patch_size / fps for _ in videos],
        }

    def audio_samples_heard(self, n_samples: int) -> int:
        """Samples the feature extractor keeps (it truncates to its 30 s chunk)."""
        if self.max_audio_s is None:
            return n_samples
        return min(n_samples, int(self.max_audio_s * self.sample_rate))

    def audio_tokens(self, n_samples: int) -> int:
        """`<|AUDIO|>` tokens of `n_samples` of 16 kHz audio: its mel frames (one per
        started hop, as the feature extractor's attention mask and vLLM's padding to a
        whole hop count them) through the audio encoder's strides."""
        return self.encoder_tokens(math.ceil(self.audio_samples_heard(n_samples) / HOP_LENGTH))

    def encoder_tokens(self, frames: int) -> int:
        """Qwen2.5-Omni's encoder halves the mel frames twice."""
        if frames <= 0:
            return 0
        return ((frames - 1) // 2 + 1 - 2) // 2 + 1

    @staticmethod
    def whole_hops(n_samples: int) -> int:
        """Samples sent of `n_samples`: a partial last hop (under 10 ms) left out."""
        return n_samples - n_samples % HOP_LENGTH

    def audio_in_video_tokens(self, n_samples: int) -> int:
        """What a video's audio adds to its prompt: the pads and the two markers."""
        return self.audio_tokens(n_samples) + self.audio_markers


QWEN2_5_OMNI = OmniProfile(
    name="qwen2_5_omni",
    label="Qwen2.5-Omni",
    architectures=("Qwen2_5OmniForConditionalGeneration", "Qwen2_5OmniModel"),
    model_types=("qwen2_5_omni",),
    patch_size=14,
)


def _sample_fps(metadata: Mapping[str, Any]) -> float | None:
    """Frames per second of the sampled frames, as qwen_vl_utils computes it."""
    indices, fps = metadata.get("frames_indices"), metadata.get("fps")
    total = metadata.get("total_num_frames")
    if not indices or not fps or not total:
        return None
    return len(indices) / total * fps


@dataclass(frozen=True)
class Qwen3OmniProfile(OmniProfile):
    """Qwen3-Omni's audio encoder: 100-frame windows of 13 tokens each, plus the tail
    halved three times; its processor does not truncate."""

    max_audio_s: float | None = None

    def encoder_tokens(self, frames: int) -> int:
        if frames <= 0:
            return 0
        tail = (frames % 100 - 1) // 2 + 1
        return ((tail - 1) // 2 + 1 - 1) // 2 + 1 + (frames // 100) * 13


QWEN3_OMNI_MOE = Qwen3OmniProfile(
    name="qwen3_omni_moe",
    label="Qwen3-Omni-MoE",
    architectures=("Qwen3OmniMoeForConditionalGeneration",),
    model_types=("qwen3_omni_moe",),
    patch_size=16,
)

BUILTIN = (QWEN2_5_OMNI, QWEN3_OMNI_MOE)
