"""(e) Shard and merge of N rows: rows/s against `cat` and `sort` as the floor.

Shard: the workflow's `write_shards` (parse each row, key it, hash the key, write the
row with its `__key` to its shard file); where that module is missing, the bare
key-hash partition loop written here. Merge:
`video_pipeline.merge.merge_outputs` over 4 rank journals of real records, which writes
each input key once, in input order. Floors on the same bytes: `cat` (the seed's
merge: a copy, no keys) and `LC_ALL=C sort` (a reordering, no JSON).

    python benchmarks/bench_shard_merge.py [--size 1000000] [--shards 16] [--smoke]
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import benchlib


def shard_fn() -> tuple[str, Any]:
    """The workflow's shard step, or the partition loop when that module is missing."""
    try:
        from video_pipeline.workflow.shard import write_shards
    except ImportError:
        return "key-hash partition loop (video_pipeline.io.keys)", partition_loop

    def workflow_shard(
        input_path: Path, out_dir: Path, num_shards: int, video_field: str, id_field: str | None
    ) -> None:
        outputs = [out_dir / f"{s}.jsonl" for s in range(num_shards)]
        write_shards(input_path, outputs, video_field, id_field)

    return "video_pipeline.workflow.shard.write_shards", workflow_shard


def partition_loop(
    input_path: Path, out_dir: Path, num_shards: int, video_field: str, id_field: str | None
) -> None:
    from video_pipeline.io.jsonl import RowError, iter_lines, parse_line
    from video_pipeline.io.keys import key_hash, line_key, row_key

    out_dir.mkdir(parents=True, exist_ok=True)
    outs = [open(out_dir / f"{s}.jsonl", "wb") for s in range(num_shards)]  # noqa: SIM115
    try:
        for _off, lineno, line in iter_lines(input_path):
            try:
                key = row_key(parse_line(line, lineno), video_field, id_field)
            except (RowError, KeyError):
                key = line_key(lineno)
            outs[key_hash(key) % num_shards].write(line if line.endswith(b"\n") else line + b"\n")
    finally:
        for f in outs:
            f.close()


def shell(cmd: str) -> float:
    env = {**os.environ, "LC_ALL": "C"}
    return benchlib.timed(lambda: subprocess.run(cmd, shell=True, check=True, env=env))


def main(argv: list[str] | None = None) -> int:
    p = benchlib.parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000, help="input rows")
    p.add_argument("--shards", type=int, default=16)
    args = p.parse_args(argv)
    size = 2000 if args.smoke else args.size
    repeat = 1 if args.smoke else args.repeat

    from video_pipeline.io.journal import journal_paths
    from video_pipeline.merge import merge_outputs

    cfg = benchlib.journal_fixture(args.work, size)
    inp = cfg.data.input_jsonl
    journals = " ".join(str(j) for j in journal_paths(cfg.data.output_jsonl))
    scratch = args.work / "shard_merge_out"
    shards_dir = scratch / "shards"
    merged = scratch / "merged.describe.jsonl"
    scratch.mkdir(parents=True, exist_ok=True)
    name, shard = shard_fn()

    def run_shard() -> float:
        shutil.rmtree(shards_dir, ignore_errors=True)
        return benchlib.timed(
            lambda: shard(inp, shards_dir, args.shards, cfg.data.video_field, cfg.data.id_field)
        )

    def run_merge() -> float:
        return benchlib.timed(lambda: merge_outputs(cfg, str(merged)))

    shell(f"cat {inp} {journals} > /dev/null")  # page cache warm for everyone
    r = repeat
    res_shard = {
        "candidate": {"name": name, **benchlib.best_of(run_shard, r)},
        "cat": benchlib.best_of(lambda: shell(f"cat {inp} > {scratch}/cat.jsonl"), r),
        "sort": benchlib.best_of(lambda: shell(f"sort {inp} > {scratch}/sort.jsonl"), r),
    }
    report = merge_outputs(cfg, str(merged))
    if report.unique_keys != size or report.pending:
        raise SystemExit(f"merge is incomplete: {report.summary()}")
    res_merge = {
        "candidate": {"name": "merge_outputs", **benchlib.best_of(run_merge, r)},
        "cat": benchlib.best_of(lambda: shell(f"cat {journals} > {scratch}/cat.jsonl"), r),
        "sort": benchlib.best_of(lambda: shell(f"sort {journals} > {scratch}/sort.jsonl"), r),
    }
    for res in (res_shard, res_merge):
        for k in ("candidate", "cat", "sort"):
            res[k]["rows_per_s"] = round(size / res[k]["best_s"])
        res["x_slower_than_cat"] = benchlib.ratio(res["candidate"]["best_s"], res["cat"]["best_s"])
        res["x_slower_than_sort"] = benchlib.ratio(
            res["candidate"]["best_s"], res["sort"]["best_s"]
        )
    shutil.rmtree(scratch, ignore_errors=True)
    result = {"rows": size, "shards": args.shards, "shard": res_shard, "merge": res_merge}
    line = (
        f"{size} rows: shard {res_shard['candidate']['rows_per_s']:,} rows/s "
        f"(cat {res_shard['cat']['rows_per_s']:,}, sort {res_shard['sort']['rows_per_s']:,}); "
        f"merge {res_merge['candidate']['rows_per_s']:,} rows/s "
        f"(cat {res_merge['cat']['rows_per_s']:,}, sort {res_merge['sort']['rows_per_s']:,})"
    )
    benchlib.save("shard_merge", result, args.out, line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
