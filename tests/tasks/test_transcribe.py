"""`transcribe` without the engine: windows of a soundtrack, segments from Whisper's
answers, its params and template fields, and a sample's windows gathered by the runner
(FakeEngine standing in for vLLM, the audio decode real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import demo_config, read_jsonl
from video_pipeline.config import load_config
from video_pipeline.config.errors import ConfigError
from video_pipeline.data.audio import load_audio
from video_pipeline.data.dataset_audio import audio_parts
from video_pipeline.data.sample import Prepared
from video_pipeline.engine.base import Finished
from video_pipeline.engine.fake import FakeEngine
from video_pipeline.errors import SampleError
from video_pipeline.fixtures.videos import make_video, write_input_jsonl
from video_pipeline.io.journal import journal_path
from video_pipeline.runner.memory import tensor_bytes
from video_pipeline.runner.rank import run_rank
from video_pipeline.tasks.transcribe import TranscribeTask, window_segments

PROMPT = "<|startoftranscript|><|en|><|transcribe|>"


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sound")
    kw = {"fps": 4, "width": 32, "height": 32}
    return {
        "long": make_video(d / "long.mp4", seconds=5.0, tone_hz=440, **kw),
        "short": make_video(d / "short.mp4", seconds=1.0, tone_hz=440, **kw),
        "silent": make_video(d / "silent.mp4", seconds=1.0, **kw),
    }


def _times(parts) -> list[tuple[float, float]]:
    return [(round(m["start"], 1), round(m["end"], 1)) for m in parts.meta]


def test_windows_have_times_in_the_file_and_the_last_is_shorter(videos):
    parts = audio_parts(load_audio(videos["long"]), PROMPT, window_s=2.0)
    assert _times(parts) == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]
    first = parts.inputs[0]
    assert first["decoder_prompt"] == PROMPT
    samples, rate = first["encoder_prompt"]["multi_modal_data"]["audio"]
    assert rate == 16_000 and len(samples) == 32_000
    # the decoded samples count against run.max_in_flight_mb while the sample is in flight
    item = Prepared(0, "k", {}, [0], inputs=[parts])
    assert tensor_bytes(item) == 4 * 16_000 * 5


def test_a_clip_hears_only_its_range(videos):
    parts = audio_parts(load_audio(videos["long"], 1.5, 4.0), PROMPT, window_s=2.0)
    assert _times(parts) == [(1.5, 3.5), (3.5, 4.0)]


def test_no_sound_is_no_windows_and_garbage_an_audio_decode_error(videos, tmp_path):
    assert audio_parts(load_audio(videos["silent"]), PROMPT).inputs == []
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 1000)
    with pytest.raises(SampleError) as got:
        audio_parts(load_audio(bad), PROMPT)
    assert got.value.kind == "audio_decode_error"


def test_timestamps_make_segments_with_global_times():
    text = "<|0.00|> Hello there.<|1.20|><|1.20|> General Kenobi<|2.50|>"
    assert window_segments(text, 30.0, 60.0) == [
        {"start": 30.0, "end": 31.2, "text": "Hello there."},
        {"start": 31.2, "end": 32.5, "text": "General Kenobi"},
    ]


def test_unpaired_text_takes_the_window_bounds_and_times_stay_inside():
    # text before the first stamp, an unclosed last segment, a stamp past the window
    text = "intro<|1.00|> middle<|9.00|> tail"
    assert window_segments(text, 10.0, 14.0) == [
        {"start": 10.0, "end": 11.0, "text": "intro"},
        {"start": 11.0, "end": 14.0, "text": "middle"},
        {"start": 14.0, "end": 14.0, "text": "tail"},
    ]
    assert window_segments("<|0.00|><|2.00|><|2.00|>", 0.0, 5.0) == []  # nothing said


def test_without_timestamps_a_window_is_one_segment():
    got = window_segments("a b<|1.00|> c<|endoftext|>", 4.0, 6.0, timestamps=False)
    assert got == [{"start": 4.0, "end": 6.0, "text": "a b c"}]


def test_parts_join_into_one_transcript_and_no_parts_into_an_empty_one():
    task = TranscribeTask(language="de", window_s=2.0, timestamps=False)
    meta = [{"start": 0.0, "end": 2.0}, {"start": 2.0, "end": 3.1}]
    text, result = task.parse_parts(["eins", " zwei "], meta, {})
    assert text == result["text"] == "eins zwei"
    assert result["language"] == "de"
    assert [s["start"] for s in result["segments"]] == [0.0, 2.0]
    assert task.parse_parts([], [], {}) == ("", {"language": "de", "segments": [], "text": ""})
    assert task.decoder_prompt() == "<|startoftranscript|><|de|><|transcribe|><|notimestamps|>"
    prompted = TranscribeTask(language="en", prompt="Kenobi")
    assert prompted.decoder_prompt() == f"<|startofprev|>Kenobi{PROMPT}"


def test_without_a_language_the_model_names_it_else_english():
    task = TranscribeTask()
    assert task.decoder_prompt() == "<|startoftranscript|>"
    assert task.sampling_overrides() == {"skip_special_tokens": False}  # to read the token
    said = "<|de|><|transcribe|><|0.00|> hallo<|1.00|><|endoftext|>"
    meta = [{"start": 0.0, "end": 2.0}, {"start": 2.0, "end": 4.0}]
    text, result = task.parse_parts(["<|nospeech|>", said], meta, {})
    assert (text, result["language"]) == ("hallo", "de")
    assert result["segments"] == [{"start": 2.0, "end": 3.0, "text": "hallo"}]
    assert task.parse_parts(["la"], meta[:1], {})[1]["language"] == "en"
    assert task.parse_parts([], [], {})[1]["language"] == "en"  # a template can read it
    chat = [{**meta[0], "chat": True}]  # a chat model that hears writes no language token
    assert task.parse_parts(["<|de|> la"], chat, {})[1]["language"] == "en"
    assert TranscribeTask(language="de").parse_parts(["la"], chat, {})[1]["language"] == "de"
    assert TranscribeTask(language="fr").sampling_overrides() == {}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"window_s": 31}, "task_params.window_s"),
        ({"window_s": 0}, "task_params.window_s"),
        ({"language": "english"}, "task_params.language"),
        ({"timestamps": "yes"}, "task_params.timestamps"),
        ({"beam": 5}, "task_params.beam is not a parameter of task 'transcribe'"),
    ],
)
def test_bad_params_name_the_key(params, expected):
    problems = TranscribeTask.check_params(params)
    assert any(expected in p for p in problems), problems
    assert TranscribeTask.check_params({"window_s": 30, "language": "fr"}) == []


def _staged(tmp_path, prompt: str) -> dict:
    raw = demo_config(Path("/models/vlm"), tmp_path / "in.jsonl", tmp_path / "o.{task}.jsonl")
    del raw["run"]["task"]
    raw["tasks"] = [
        {"name": "transcribe", "vllm": {"model": "/models/whisper"}},
        {"name": "heard", "task": "describe", "after": ["transcribe"], "task_params": {}},
    ]
    raw["tasks"][1]["task_params"]["prompt"] = prompt
    return raw


def test_templates_may_name_the_transcript_and_its_result_fields(tmp_path):
    ok = "Speech ({transcribe.result.language}): {transcribe.text}\nDescribe the video."
    load_config(data=_staged(tmp_path, ok))
    with pytest.raises(ConfigError) as err:
        load_config(data=_staged(tmp_path, "{transcribe.result.speaker}"))
    assert "'speaker' is not a field of transcribe's result" in str(err.value)


def test_the_engine_takes_audio_and_whisper_s_context(tiny_whisper):
    raw = demo_config(tiny_whisper, Path("in.jsonl"), Path("o.jsonl"))
    cfg = load_config(data=raw)
    assert cfg.vllm.max_model_len == 4096  # set for the VLM
    got = TranscribeTask.engine_config(cfg.vllm)
    assert got.max_model_len == 448 and got.limit_mm_per_prompt == {"audio": 1}


class _FailsTwoParts(FakeEngine):
    """Ends the second and third requests it is given (windows of one video) with an
    engine error."""

    def step(self) -> list[Finished]:
        bad = set(self.added[1:3])
        return [
            Finished(f.request_id, f.text, 10, 3, "error", error=("engine_error", "boom"))
            if f.request_id in bad
            else f
            for f in super().step()
        ]


def test_the_runner_gathers_a_sample_s_windows_into_one_record(tmp_path, videos, tiny_whisper):
    """A sample's windows, one request each, make one record; windows ended with an
    error make the sample's one error record (its other windows are dropped)."""
    from transformers import AutoProcessor

    order = ("long", "short", "silent", "long")  # the last row: a clip of 1-4 s

    def clip(i, _video):
        return {"video_start": 1.0, "video_end": 4.0} if i == 3 else {}

    inp = write_input_jsonl(
        tmp_path / "in.jsonl",
        [videos[k] for k in order],
        meta=lambda i, _v: {"id": "clip"} if i == 3 else {},
        extra_fields=clip,
    )
    out = tmp_path / "o.jsonl"
    raw = demo_config(
        tiny_whisper, inp, out, task="transcribe", data={"num_workers": 0}, run={"max_in_flight": 8}
    )
    raw["task_params"] = {"window_s": 2.0, "timestamps": False}
    cfg = load_config(data=raw)
    engine = _FailsTwoParts(steps_per_request=2, text="la")
    processor = AutoProcessor.from_pretrained(tiny_whisper)
    stats = run_rank(cfg, 0, 1, lambda: engine, lambda t: None, processor)
    journaled = read_jsonl(journal_path(str(out), 0))
    recs = {r["raw"]["meta"]["id"]: r for r in journaled}
    assert sorted(r["raw"]["meta"]["id"] for r in journaled) == ["clip", "long", "short", "silent"]
    assert len(engine.added) == 3 + 1 + 2  # windows: the long video's, short's, the clip's
    long, short, silent = recs["long"], recs["short"], recs["silent"]
    assert long["status"] == "error" and long["error"]["kind"] == "engine_error"
    assert short["status"] == "ok" and short["text"] == "la"
    assert short["result"]["segments"] == [{"start": 0.0, "end": 1.0, "text": "la"}]
    assert silent["status"] == "ok" and silent["text"] == "" and silent["tokens"]["prompt"] == 0
    got = [(s["start"], s["end"]) for s in recs["clip"]["result"]["segments"]]
    assert got == [(1.0, 3.0), (3.0, 4.0)]  # the clip's range only, times in the file
    assert (stats.done, stats.failed) == (3, 1)


def test_a_staged_transcribe_fills_whisper_s_prompt_from_the_row():
    """`after: []` makes the prompt a template: e.g. the video's title steers spelling."""
    from video_pipeline.data.sample import Sample
    from video_pipeline.stages.upstream import StagedTask, UpstreamJoin

    task = StagedTask(TranscribeTask(language="en", prompt="{raw.meta.title}"), UpstreamJoin({}))
    sample = Sample("k", {"meta": {"title": "Kenobi"}}, "v.mp4", video_uri="/v.mp4")
    (message,) = task.build_messages(sample)
    assert message["content"][1]["text"] == f"<|startofprev|>Kenobi{PROMPT}"
    meta = [{"start": 0.0, "end": 2.0}]
    assert task.parse_parts(["hello"], meta, {})[0] == "hello"
