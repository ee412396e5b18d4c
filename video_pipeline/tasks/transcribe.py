"""`transcribe`: what is said in a video, by a Whisper-family model on its soundtrack.

No frame is decoded for it: the dataset (`audio`) reads the soundtrack in windows of at
most 30 s (what Whisper's encoder hears) and each window is a request of its own; a video's
windows come back as one record (data/sample.py `Parts`). The record's `text` is the
whole transcript and its result `{language, segments: [{start, end, text}], text}`,
with times in seconds from the start of the file (a clip's windows start at its
start). Segments follow Whisper's timestamp tokens where the model writes them, else
one segment per window. A video without an audio track gets an empty transcript.
Without `language` the model names the language (Whisper writes its token first).

Run it on its own engine section (`vllm: {model: openai/whisper-large-v3}` in its
entry of `tasks`), or on an Omni model beside the tasks that caption the same videos:
then one decode of each video serves them all, and each window is a chat prompt
(`chat_instruction`; one segment per window, `en` unless `language` is given). Later
stages read `{transcribe.text}` in their prompts.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from video_pipeline.config.schema import VllmConfig
from video_pipeline.tasks.base import Params, Task
from video_pipeline.tasks.registry import register_task

# A timestamp token as the tokenizer decodes it: Whisper keeps them as text.
STAMP = re.compile(r"<\|(\d+\.\d+)\|>")
SPECIAL = re.compile(r"<\|[^|>]*\|>")


class TranscribeParams(Params):
    language: str | None = Field(
        None,
        description="the spoken language, as Whisper's code (`en`, `de`, `zh`, ...); null: "
        "Whisper names it (its first token), `en` if it does not (nor does a chat model "
        "that hears, an Omni family)",
    )
    window_s: float = Field(
        30.0, gt=0, le=30, description="seconds per request (Whisper hears at most 30)"
    )
    timestamps: bool = Field(
        True, description="ask for Whisper's timestamp tokens (segments within a window)"
    )
    prompt: str = Field(
        "",
        description="text the speech likely contains (names, terms): Whisper's "
        "previous-text prompt, which steers spelling",
    )

    @field_validator("language")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        from transformers.models.whisper.tokenization_whisper import LANGUAGES

        if value is not None and value not in LANGUAGES:
            raise ValueError(f"not a Whisper language code, e.g. {', '.join(list(LANGUAGES)[:6])}")
        return value


@register_task
class TranscribeTask(Task):
    name = "transcribe"
    dataset_name = "audio"
    params_model = TranscribeParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.options = TranscribeParams.model_validate(params)

    def decoder_prompt(self) -> str:
        """Whisper's decoder prefix: the task tokens, after the previous-text prompt.
        Without a language it ends at `<|startoftranscript|>`: the model writes the
        language token, then the task's."""
        o = self.options
        prev = f"<|startofprev|>{o.prompt}" if o.prompt else ""
        if o.language is None:
            return f"{prev}<|startoftranscript|>"
        stamps = "" if o.timestamps else "<|notimestamps|>"
        return f"{prev}<|startoftranscript|><|{o.language}|><|transcribe|>{stamps}"

    def sampling_overrides(self) -> dict[str, Any]:
        # the language token the model writes is a special token: keep it to read it
        return {"skip_special_tokens": False} if self.options.language is None else {}

    def chat_instruction(self) -> str:
        """What a chat model that hears (an Omni family) is asked of each window."""
        from transformers.models.whisper.tokenization_whisper import LANGUAGES

        o = self.options
        said = f" The speech is in {LANGUAGES[o.language].title()}." if o.language else ""
        terms = f" It may mention: {o.prompt}." if o.prompt else ""
        ask = "Transcribe the speech in this audio word for word."
        return f"{ask}{said}{terms} Write only what is said."

    def build_messages(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        # The video element carries the file and the clip's bounds; its soundtrack is read.
        content = [
            {"type": "video", "video": sample["__video_uri"]},
            {"type": "text", "text": self.decoder_prompt()},
        ]
        return [{"role": "user", "content": content}]

    def result_fields(self) -> list[str]:
        return ["language", "segments", "text"]

    def parse(self, generated_text: str, sample: dict[str, Any]) -> dict[str, Any]:
        """One window's answer, its times from 0 (a single request's input)."""
        return self.parse_parts([generated_text], [{"start": 0.0, "end": None}], sample)[1]

    def parse_parts(
        self, texts: list[str], meta: list[dict[str, Any]], sample: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        segments = [
            seg
            for text, m in zip(texts, meta, strict=True)
            for seg in window_segments(text, m["start"], m["end"], self.options.timestamps)
        ]
        transcript = join_segments(segments)
        # a chat model writes no language token: `en` unless told, as Whisper's default
        chat = any(m.get("chat") for m in meta)
        named = (None if chat else detected_language(texts)) or "en"
        return transcript, {
            "language": self.options.language or named,
            "segments": segments,
            "text": transcript,
        }

    @classmethod
    def engine_config(cls, cfg: VllmConfig) -> VllmConfig:
        """Whisper takes one audio per prompt and no video, and its decoder holds
        `max_target_positions` tokens (448): a context set for the VLM is cut to it. A
        chat model that hears (an Omni family, which has no such limit) keeps its
        section, with room for an audio item per prompt."""
        if _hears(cfg):
            limits = cfg.limit_mm_per_prompt
            if limits is None or limits.get("audio", 1) >= 1:
                return cfg
            return cfg.model_copy(update={"limit_mm_per_prompt": {**limits, "audio": 1}})
        limit = cfg.max_model_len
        positions = _max_target_positions(cfg)
        if positions is not None and (limit is None or limit > positions):
            limit = positions
        return cfg.model_copy(update={"limit_mm_per_prompt": {"audio": 1}, "max_model_len": limit})


def window_segments(
    text: str, start: float, end: float | None, timestamps: bool = True
) -> list[dict[str, Any]]:
    """One window's answer as segments with times in the file.

    Each stretch of text takes its times from the timestamp tokens around it (the
    window's start or end where there is none); without timestamps the window's text
    is one segment. Empty stretches (a pair of stamps, nothing said) are left out.
    """
    pieces = STAMP.split(text)  # text, stamp, text, stamp, ..., text
    stamps = [float(s) for s in pieces[1::2]] if timestamps else []
    texts = pieces[0::2] if timestamps else ["".join(pieces[0::2])]
    last = end if end is not None else start + (max(stamps) if stamps else 0.0)

    def at(offset: float | None, default: float) -> float:
        t = default if offset is None else start + offset
        return round(min(max(t, start), last), 3)

    out = []
    for i, piece in enumerate(texts):
        clean = SPECIAL.sub("", piece).strip()
        if not clean:
            continue
        lo = at(stamps[i - 1] if i > 0 else None, start)
        hi = at(stamps[i] if i < len(stamps) else None, last)
        out.append({"start": lo, "end": max(lo, hi), "text": clean})
    return out


def detected_language(texts: list[str]) -> str | None:
    """The first language token the model wrote, in window order."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    for text in texts:
        for token in SPECIAL.findall(text):
            if token[2:-2] in LANGUAGES:
                return token[2:-2]
    return None


def join_segments(segments: list[dict[str, Any]]) -> str:
    return " ".join(s["text"] for s in segments)


def _hears(cfg: VllmConfig) -> bool:
    """Whether the model is a chat family that hears (else a speech model, Whisper)."""
    from video_pipeline.runner.checks import chat_family

    family = chat_family(cfg.model)
    return family is not None and family.hears


def _max_target_positions(cfg: VllmConfig) -> int | None:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError):  # the engine reports an unreadable model itself
        return None
    return getattr(config, "max_target_positions", None)
