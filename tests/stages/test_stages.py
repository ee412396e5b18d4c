"""Stages without an engine: templates, config errors, the fingerprint chain, the upstream
join (prompts, `upstream`, `upstream_error`, `missing_field`) over records on disk."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import REPO
from video_pipeline.config import ConfigError, load_config
from video_pipeline.config.loader import task_configs
from video_pipeline.errors import SampleError
from video_pipeline.fingerprint import fingerprint
from video_pipeline.io.keys import key_hash
from video_pipeline.stages.plan import waves
from video_pipeline.stages.template import TemplateError, parse
from video_pipeline.stages.upstream import StagedTask, UpstreamJoin, stamping
from video_pipeline.tasks.rewrite import RewriteTask

SEED = REPO / "configs" / "describe.yaml"
V2 = "A draft caption: {describe.text}\nWatch the video and correct the draft."
T2V = (
    "Title: {raw.meta.title}\nCaption: {describe.text}\n"
    "Shot: {structured_caption.result.shot_type}\nWrite one caption for a text-to-video model."
)


def _tasks(v2=V2, t2v=T2V, fields=("summary", "shot_type")):
    return [
        {"name": "describe"},
        {"name": "structured_caption", "task_params": {"fields": list(fields)}},
        {
            "name": "describe_v2",
            "task": "describe",
            "after": ["describe"],
            "task_params": {"prompt": v2},
        },
        {
            "name": "t2v_caption",
            "task": "rewrite",
            "after": ["describe", "structured_caption"],
            "task_params": {"prompt": t2v},
            "vllm": {"model": "/models/Qwen3-8B"},
            "sampling": {"max_tokens": 200},
        },
    ]


def _load(tasks, output="/tmp/stages/o.{task}.jsonl"):
    data = yaml.safe_load(SEED.read_text())
    data["data"]["output_jsonl"] = output
    data["run"].pop("task")
    data["tasks"] = tasks
    return load_config(data=data)


def _fps(tasks) -> dict[str, str]:
    cfg = _load(tasks)
    return {s.name: fingerprint(c) for s, c in zip(cfg.tasks, task_configs(cfg), strict=True)}


def test_the_example_loads_with_its_own_engine_and_stage_order():
    cfg = _load(_tasks())
    cfgs = task_configs(cfg)
    t2v = cfgs[3]
    assert t2v.run.task == "rewrite" and t2v.vllm.model == "/models/Qwen3-8B"
    assert t2v.sampling.max_tokens == 200 and cfgs[2].vllm.model == cfgs[0].vllm.model
    ups = t2v.dataset_params["upstream"]
    assert set(ups) == {"describe", "structured_caption"}
    assert ups["describe"] == {
        "fingerprint": fingerprint(cfgs[0]),
        "records": "/tmp/stages/o.describe.jsonl",
    }
    # first stage together; then describe_v2 on the VLM just used, then the text model
    assert waves(cfg.tasks, cfgs) == [[0, 1], [2], [3]]


def test_the_fingerprint_chain_reruns_only_what_is_downstream():
    base = _fps(_tasks())
    assert len(set(base.values())) == 4
    changed = _fps([{**t, "task_params": {"prompt": "Say it."}} if i == 0 else t
                    for i, t in enumerate(_tasks())])  # fmt: skip
    assert changed["structured_caption"] == base["structured_caption"]
    for name in ("describe", "describe_v2", "t2v_caption"):
        assert changed[name] != base[name]
    only_t2v = _fps(_tasks(t2v=T2V + " Be brief."))
    assert {n for n in base if only_t2v[n] != base[n]} == {"t2v_caption"}
    # where the upstream records are read from (a path) is not part of any fingerprint
    cfg = _load(_tasks(), output="/elsewhere/o.{task}.jsonl")
    moved = {s.name: fingerprint(c) for s, c in zip(cfg.tasks, task_configs(cfg), strict=True)}
    assert moved == base


@pytest.mark.parametrize(
    "tasks, expected",
    [
        (_tasks(v2="Draft: {structured_caption.text}"), "names no task of `after` (describe)"),
        (
            _tasks(t2v="Shot: {structured_caption.result.lighting}"),
            "'lighting' is not a field of structured_caption's result",
        ),
        (_tasks(fields=("summary",)), "'shot_type' is not a field of structured_caption's"),
        (_tasks(v2="Draft: {describe.answer}"), "{describe.text} or {describe.result.<field>}"),
        (_tasks(v2="Draft: {describe.text!r}"), "conversions and format specs"),
        (_tasks(v2="Draft: {describe.text"), "not a valid template"),
        (
            [{"name": "describe", "after": ["nope"]}],
            "tasks[0] (describe).after: 'nope' is not a task",
        ),
        (
            [
                {"name": "a", "task": "describe", "after": ["b"]},
                {"name": "b", "task": "describe", "after": ["a"]},
            ],
            "`after` makes a cycle: a -> b -> a",
        ),
        (
            [{"name": "describe"}, {"name": "r", "task": "rewrite", "after": ["describe"]}],
            "tasks[1] (r): task_params.prompt must be a non-empty string",
        ),
        (
            [{"name": "describe", "vllm": {"tensor_parallel_size": 2}}],
            "tasks[0] (describe).vllm.tensor_parallel_size: every task of a rank",
        ),
    ],
)
def test_bad_stages_fail_at_load_naming_the_key(tasks, expected):
    with pytest.raises(ConfigError) as e:
        _load(tasks)
    assert expected in str(e.value)


def test_template_names_longest_task_first_and_raw_paths():
    refs = parse("{a.b.text} {a.result.x.y} {raw.meta.title} {{literal}}", ["a", "a.b"])
    assert [(r.source, r.kind, r.path) for r in refs] == [
        ("a.b", "text", ()),
        ("a", "result", ("x", "y")),
        ("raw", "raw", ("meta", "title")),
    ]
    with pytest.raises(TemplateError):
        parse("{raw}", [])


def _records(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def _rec(key, fp, status="ok", text=None, result=None, kind=None):
    error = None if status == "ok" else {"kind": kind, "message": "bad", "transient": False}
    return {"__key": key, "status": status, "fingerprint": fp, "text": text,
            "result": result, "error": error}  # fmt: skip


def test_the_join_fills_prompts_and_records_what_was_given(tmp_path):
    out = tmp_path / "o.describe.jsonl"
    # journals: an old fingerprint's answer, an error then a result (the result wins)
    _records(tmp_path / "o.describe.rank0.jsonl", [
        _rec("k1", "old", text="stale"),
        _rec("k1", "fp1", status="error", kind="engine_error"),
        _rec("k1", "fp1", text="a cat", result={"description": "a cat"}),
        _rec("k2", "fp1", status="error", kind="parse_error"),
    ])  # fmt: skip
    _records(tmp_path / "o.sc.rank1.jsonl", [
        _rec(k, "fp2", text="{}", result={"shot_type": "wide"}) for k in ("k1", "k2", "k4")
    ])  # fmt: skip
    cfg = _load(_tasks())
    t2v = task_configs(cfg)[3]
    ups = {
        "describe": {"fingerprint": "fp1", "records": str(out)},
        "structured_caption": {"fingerprint": "fp2", "records": str(tmp_path / "o.sc.jsonl")},
    }
    t2v.task_params["dataset"]["upstream"] = ups
    join = UpstreamJoin.load(t2v)
    task = StagedTask(RewriteTask(**t2v.task_kwargs), join)
    row = {"path": "v.mp4", "meta": {"title": "Cats"}}

    messages = task.build_messages({"__key": "k1", "raw": row})
    assert messages[-1]["content"] == (
        "Title: Cats\nCaption: a cat\nShot: wide\nWrite one caption for a text-to-video model."
    )
    given = join.given("k1")
    assert given == {
        "describe": {"text": "a cat", "result": {"description": "a cat"}},
        "structured_caption": {"text": "{}", "result": {"shot_type": "wide"}},
    }
    # an upstream error, a missing upstream answer, a row without the field
    for key, raw, kind, words in [
        ("k2", row, "upstream_error", "describe failed: parse_error"),
        ("k4", row, "upstream_error", "describe: no record for this key"),
        ("k1", {"path": "v.mp4"}, "missing_field", "the row has no field meta.title"),
    ]:
        with pytest.raises(SampleError) as e:
            task.build_messages({"__key": key, "raw": raw})
        assert (e.value.kind, words in e.value.message) == (kind, True)

    mine = UpstreamJoin.load(t2v, [key_hash("k2")])  # a rank's keys only
    assert {n: set(r) for n, r in mine.records.items()} == {
        "describe": {"k2"},
        "structured_caption": {"k2"},
    }

    written = []
    write = stamping(task, written.append)
    write({"__key": "k1", "status": "ok", "text": "x", "result": {"caption": "x"}, "error": None})
    write({"__key": "k2", "status": "error", "text": None, "result": None, "error": {}})
    assert list(written[0]) == ["__key", "status", "text", "result", "upstream", "error"]
    assert written[0]["upstream"] == given and "upstream" not in written[1]


def test_the_typed_record_keeps_upstream_after_result():
    from video_pipeline.io.record import Record

    d = {"__key": "k", "status": "ok", "fingerprint": "f", "task": "rewrite", "raw": {},
         "rank": 0, "time": 1.0, "text": "x", "result": {"caption": "x"},
         "upstream": {"describe": {"text": "t", "result": {"description": "t"}}},
         "error": None}  # fmt: skip
    rec = Record.from_dict(d)
    assert rec.upstream == d["upstream"] and not rec.extra
    assert list(rec.to_dict()) == list(d) and rec.to_dict() == d


def _clip_rec(video, i, fp, status="ok", kind=None):
    rec = _rec(f"{video}#t={i * 30},{i * 30 + 30}", fp, status, f" clip {i} ", None, kind)
    rec["result"] = {"description": f"clip {i}"} if status == "ok" else None
    clip = {"index": i, "start": i * 30.0, "end": i * 30.0 + 30}
    return {**rec, "video_key": video, "clip": clip}


def test_the_summary_is_a_stage_joined_many_to_one_by_video(tmp_path):
    """`clips.summary`: a stage after the clip task whose sample is a whole video; the
    join gives it the video's clips that answered, in time order, from any rank."""
    from video_pipeline.clips.summary import summary_config
    from video_pipeline.stages.plan import is_staged
    from video_pipeline.tasks.clip_summary import ClipSummaryTask

    cfg = load_config(
        data={
            "data": {"input_jsonl": "/in.jsonl", "output_jsonl": str(tmp_path / "res.jsonl")},
            "vllm": {"model": "m"},
            "clips": {"mode": "fixed", "seconds": 30, "summary": True},
        }
    )
    summary = summary_config(cfg, tmp_path / "rows.jsonl")
    fp = fingerprint(cfg)
    assert is_staged(summary) and summary.dataset_params["upstream"] == {
        "describe": {"fingerprint": fp, "records": str(tmp_path / "res.jsonl"), "join": "video"}
    }
    # Clips of a.mp4 over two ranks, out of order, one failed; b.mp4's only clip failed.
    _records(tmp_path / "res.rank1.jsonl", [
        _clip_rec("a.mp4", 2, fp), _clip_rec("a.mp4", 0, "old"),
        _clip_rec("b.mp4", 0, fp, "error", "decode_error"),
    ])  # fmt: skip
    _records(tmp_path / "res.rank0.jsonl", [
        _clip_rec("a.mp4", 1, fp, "error", "engine_error"), _clip_rec("a.mp4", 0, fp),
    ])  # fmt: skip
    join = UpstreamJoin.load(summary)
    given = join.given("a.mp4")
    clips = [
        {"index": 0, "start": 0.0, "end": 30.0, "text": " clip 0 ",
         "result": {"description": "clip 0"}},
        {"index": 2, "start": 60.0, "end": 90.0, "text": " clip 2 ",
         "result": {"description": "clip 2"}},
    ]  # fmt: skip
    assert given == {"describe": {"clips": clips}}
    task = StagedTask(ClipSummaryTask(**summary.task_kwargs), join)
    text = task.build_messages({"__key": "a.mp4", "raw": {"path": "a.mp4"}})[-1]["content"][0]
    assert text["text"].endswith("\n\n[0-30 s] clip 0\n[60-90 s] clip 2")
    for key in ("b.mp4", "c.mp4"):  # every clip failed; no clip at all
        with pytest.raises(SampleError, match="describe: no clip of this video has an answer"):
            task.build_messages({"__key": key, "raw": {}})
    mine = UpstreamJoin.load(summary, [key_hash("b.mp4")])  # a rank's videos only
    assert {v: set(c) for v, c in mine.videos["describe"].items()} == {"b.mp4": {"b.mp4#t=0,30"}}
    written = []
    stamping(task, written.append)({"__key": "a.mp4", "status": "ok", "result": {}, "error": None})
    assert written[0]["upstream"] == given
