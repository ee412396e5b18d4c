"""Exactly-once under faults: `kill -9` of launch at several moments, an engine that dies,
a merge killed mid-write or between its renames, resumes from 2 ranks to 1 and from 1
to 2, and a changed fingerprint.

One output goes through all of it in order (a module-scoped chain), so every rerun
resumes from what the previous interruption left. The first two kills have the GPU
layout (each rank's engine core in a process of its own): one while the engine
processes are starting, one mid-run; the other runs keep the engine in-process.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import demo_config, read_jsonl, run_cli, write_config
from tests.robustness import procs
from video_pipeline.config import load_config
from video_pipeline.fingerprint import fingerprint
from video_pipeline.fixtures.videos import make_video_set, write_input_jsonl
from video_pipeline.io.journal import journal_paths
from video_pipeline.verify import verify_run

pytestmark = pytest.mark.e2e

N = 20
SLOW = {"VP_FAULT_STEP_SLEEP": "0.1"}  # engine steps slow enough to stop at a chosen point
NEW_PROMPT = "task_params.prompt=Name one colour in this video."


def _heads(out: Path) -> list[tuple[str, str, str]]:
    heads = []
    for p in journal_paths(out):
        for line in p.read_bytes().splitlines(keepends=True):
            if line.endswith(b"\n"):
                r = json.loads(line)
                heads.append((r["__key"], r["status"], r["fingerprint"]))
    return heads


@pytest.fixture(scope="module")
def chain(tiny_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("kill")
    videos = make_video_set(d / "videos", N, seconds=2.0, fps=8, width=64, height=48)
    inp = write_input_jsonl(d / "input.jsonl", [*videos, videos[0]])  # + a duplicate row
    out = d / "out" / "o.jsonl"
    raw = demo_config(tiny_model, inp, out, run={"plugins": [procs.FAULTS], "max_in_flight": 2})
    cfg_path = write_config(d / "c.yaml", raw)
    cfg = load_config(data=raw)
    log = d / "launch.log"
    obs: dict = {"keys": {str(v) for v in videos}, "seconds": {}}
    t0 = time.monotonic()

    def launch(*args: str, **env: str):
        log.write_text("")
        return procs.start(
            "video_pipeline.cli.launch", "--config", str(cfg_path), *args, log=log, **env
        )

    def check_after(step: str) -> None:
        nonlocal t0
        obs[step] = {"verify": verify_run(cfg), "lines": procs.journal_lines(out)}
        obs["seconds"][step], t0 = round(time.monotonic() - t0, 1), time.monotonic()

    # 1. Killed before any engine is ready: an engine core process is starting.
    p = launch("--nproc", "2", **SLOW, **procs.ENGINE_PROCESS)
    procs.wait_for(lambda: "fingerprint" in log.read_text(), p, log)
    procs.wait_for(lambda: len(procs.descendants(p.pid)) >= 3, p, log)  # torchrun + 2 ranks
    procs.wait_for(lambda: procs.engine_cores(p.pid), p, log)
    obs["journals_before_engine"] = len(journal_paths(out))
    obs["killed_tree"] = procs.kill9(p)  # returns once every one of them is gone
    check_after("before_engine")

    # 2. The engine dies at its 12th step: launch stops by itself with a clear message.
    p = launch("--nproc", "2", VP_FAULT_STEP_FAIL="12", **SLOW)
    obs["engine_rc"], obs["engine_log"] = procs.finish(p, log)
    check_after("engine_death")

    # 3. Killed right after the first new journal line; one rank from here on, so every
    # later run also resumes work that two ranks left.
    before = procs.journal_lines(out)
    p = launch("--nproc", "1", **SLOW, **procs.ENGINE_PROCESS)
    procs.wait_for(lambda: procs.journal_lines(out) > before, p, log)
    obs["cores_mid_run"] = procs.engine_cores(p.pid)
    procs.kill9(p)  # the engine's processes die with the launch, none left running
    check_after("first_line")

    # 4. Killed mid-run, three lines later.
    before = procs.journal_lines(out)
    p = launch("--nproc", "1", **SLOW)
    procs.wait_for(lambda: procs.journal_lines(out) >= before + 3, p, log)
    procs.kill9(p)
    check_after("mid_run")

    # 5. Killed while rank 0's journal holds half a line.
    p = launch("--nproc", "1", VP_FAULT_TORN_WRITE="2", **SLOW)
    procs.wait_for(lambda: procs.torn(out), p, log)
    procs.kill9(p)
    obs["torn_after_kill"] = procs.torn(out)
    check_after("torn_write")

    # 6. Resume to the end with two ranks (steps 3-5 resumed two ranks' work with one;
    # this resumes one rank's work with two), and merge.
    p = launch("--nproc", "2", "--merge")
    obs["resume_rc"], obs["resume_log"] = procs.finish(p, log)
    check_after("resumed")
    obs["resume_complete"] = verify_run(cfg, require_complete=True)
    obs["merged_1"] = out.read_bytes()
    obs["heads_1"] = _heads(out)

    # 7. A changed prompt: a new fingerprint, started fresh.
    p = launch("--nproc", "1", "--set", NEW_PROMPT)
    obs["fresh_rc"], obs["fresh_log"] = procs.finish(p, log)
    new_cfg = load_config(data=raw, overrides=[NEW_PROMPT])
    obs["new_fp"], obs["old_fp"] = fingerprint(new_cfg), fingerprint(cfg)
    obs["heads_2"] = _heads(out)
    obs["stale"] = sorted(p.name for p in (out.parent / "o.stale").rglob("*.jsonl"))
    check_after("fresh")

    # 8. Merge of the new results killed mid-write: the old output must stay whole.
    marker = d / "paused"
    cli = ("--config", str(cfg_path), "--set", NEW_PROMPT)
    p = procs.start("tests.robustness.slow_merge", *cli, log=log, VP_MERGE_PAUSED=str(marker))
    procs.wait_for(marker.exists, p, log)
    procs.kill9(p)
    obs["after_merge_kill"] = out.read_bytes()
    obs["leftover_tmp"] = [t.name for t in out.parent.glob("o.jsonl.tmp*")]
    obs["merge_again"] = run_cli("video_pipeline.cli.merge", *cli)
    obs["tmp_after_merge"] = [t.name for t in out.parent.glob("o.jsonl.tmp*")]
    obs["merged_2"] = read_jsonl(out) + read_jsonl(out.parent / "o.errors.jsonl")
    obs["final"] = verify_run(new_cfg, require_complete=True)
    check_after("merge_kill")

    # 9. A merge killed between its renames: new results beside old errors, no manifest.
    before = out.read_bytes()
    marker.unlink()
    env = procs.pause_after_rename("/o.jsonl", marker)
    p = procs.start("video_pipeline.cli.merge", *cli, log=log, **env)
    procs.wait_for(marker.exists, p, log)
    procs.kill9(p)
    obs["between_renames"] = verify_run(new_cfg)
    obs["merge_after_renames"] = run_cli("video_pipeline.cli.merge", *cli)
    obs["whole_again"] = verify_run(new_cfg, require_complete=True)
    obs["same_results"] = out.read_bytes() == before
    print("seconds per step:", obs["seconds"])
    return obs


def test_kill_before_the_engine_starts(chain):
    # launch was killed while torchrun and both ranks were starting; none of them
    # outlived it (kill9 waits for each to be gone) and nothing was written.
    assert chain["killed_tree"] >= 4  # torchrun, 2 ranks, an engine core starting
    assert chain["journals_before_engine"] == 0 == chain["before_engine"]["lines"]
    assert not chain["before_engine"]["verify"].violations


def test_engine_death_stops_the_job_clearly(chain):
    assert chain["engine_rc"] != 0
    text = chain["engine_log"]
    assert "the engine failed in step(): RuntimeError: simulated engine death" in text
    assert "rerun the same command to resume" in text
    v = chain["engine_death"]["verify"]
    assert not v.violations and v.done == chain["engine_death"]["lines"] > 0


def test_the_kills_hit_engines_in_their_own_process(chain):
    assert len(chain["cores_mid_run"]) == 1  # the one rank's engine core, running


@pytest.mark.parametrize("step", ["first_line", "mid_run", "torn_write"])
def test_each_kill_leaves_valid_journals_and_progress(chain, step):
    order = ["engine_death", "first_line", "mid_run", "torn_write"]
    prev = chain[order[order.index(step) - 1]]["lines"]
    now = chain[step]
    assert not now["verify"].violations, now["verify"].violations
    assert now["verify"].done == now["lines"]  # one record per key, nothing twice
    assert now["lines"] >= prev + (0 if step == "torn_write" else 1)


def test_kill_mid_write_leaves_a_torn_line_that_resume_cuts(chain):
    assert chain["torn_after_kill"] and len(chain["torn_write"]["verify"].torn_tails) == 1
    assert not chain["resumed"]["verify"].torn_tails


def test_resume_with_another_rank_count_is_exactly_once(chain):
    assert chain["resume_rc"] == 0, chain["resume_log"][-3000:]
    final = chain["resume_complete"]
    assert not final.violations and (final.done, final.pending) == (N, 0)
    keys = [k for k, _s, _f in chain["heads_1"]]
    assert sorted(keys) == sorted(chain["keys"])  # every key once across all journals
    merged = [json.loads(x)["__key"] for x in chain["merged_1"].splitlines()]
    assert sorted(merged) == sorted(chain["keys"])


def test_changed_fingerprint_starts_fresh_and_never_mixes(chain):
    assert chain["fresh_rc"] == 0, chain["fresh_log"][-3000:]
    assert "starting fresh" in chain["fresh_log"]
    assert chain["new_fp"] != chain["old_fp"]
    heads = chain["heads_2"]
    assert {f for _k, _s, f in heads} == {chain["new_fp"]}
    assert sorted(k for k, _s, _f in heads) == sorted(chain["keys"])
    assert chain["stale"]  # the old journals were set aside, not deleted


def test_merge_killed_mid_write_keeps_the_old_output_whole(chain):
    assert chain["leftover_tmp"]  # the kill did land half way through the new file
    assert chain["after_merge_kill"] == chain["merged_1"]
    merged = chain["merged_2"]
    assert sorted(r["__key"] for r in merged) == sorted(chain["keys"])
    assert {r["fingerprint"] for r in merged} == {chain["new_fp"]}
    assert not chain["final"].violations and chain["final"].pending == 0
    assert chain["tmp_after_merge"] == []  # the next merge removed the killed one's temp


def test_merge_killed_between_renames_is_not_trusted_until_merged_again(chain):
    bad = chain["between_renames"].violations
    assert any("not a complete merged set" in v for v in bad), bad
    assert not chain["whole_again"].violations
    assert chain["same_results"]
