"""The workflow without the engine: lint, dry runs, config errors at parse time."""

from __future__ import annotations

from pathlib import Path

from tests.workflow.smk import jobs_run, run_snakemake, write_yaml


def test_lint_is_clean(tmp_path: Path, sm_env: dict[str, str]) -> None:
    proc = run_snakemake(tmp_path, [], "--lint", env=sm_env)
    assert "Lints for" not in proc.stderr + proc.stdout
    assert "Congratulations, your workflow is in a good condition" in proc.stderr + proc.stdout


def test_dry_run_of_the_demo(tmp_path: Path, sm_env: dict[str, str]) -> None:
    proc = run_snakemake(tmp_path, [], "-n", env=sm_env)
    jobs = sorted(jobs_run(proc))
    assert jobs == sorted(
        [
            "all",
            "demo_inputs",
            "shard",
            "summary",
            "report",
            "merge (task=describe)",
            "merge (task=structured_caption)",
            "quality (task=describe)",
            "quality (task=structured_caption)",
            *[
                f"infer (task={t}, shard={s})"
                for t in ("describe", "structured_caption")
                for s in ("00000", "00001")
            ],
        ]
    ), jobs
    assert not (tmp_path / "demo").exists()  # a dry run writes nothing


def test_bad_config_fails_before_any_job(tmp_path: Path, sm_env: dict[str, str]) -> None:
    bad = write_yaml(
        tmp_path / "bad.yaml",
        {"num_shards": 0, "tasks": [{"name": "describe", "sampling": {"top_p": 2}}]},
    )
    proc = run_snakemake(tmp_path, [bad], "--cores", "1", env=sm_env, check=False)
    assert proc.returncode != 0
    assert "num_shards must be >= 1, got 0" in proc.stderr
    proc = run_snakemake(
        tmp_path,
        [
            write_yaml(
                tmp_path / "bad2.yaml", {"tasks": [{"name": "describe", "sampling": {"top_p": 2}}]}
            )
        ],
        "--cores",
        "1",
        env=sm_env,
        check=False,
    )
    assert proc.returncode != 0
    assert "tasks[0] (describe): sampling.top_p must be in (0, 1], got 2.0" in proc.stderr
    assert not (tmp_path / "demo").exists()


def test_a_fresh_checkout_says_what_to_set(tmp_path: Path, sm_env: dict[str, str]) -> None:
    """The shipped config.yaml names data/input.jsonl, which a fresh checkout lacks."""
    import subprocess

    from tests.helpers import REPO
    from tests.workflow.smk import SNAKEMAKE

    proc = subprocess.run(
        [SNAKEMAKE, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)],
        capture_output=True,
        text=True,
        env=sm_env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "set `input:`" in lines[0] and "make demo" in lines[0]
    assert "MissingInputException" not in proc.stderr + proc.stdout


def test_a_model_folder_that_does_not_exist_fails_at_parse(
    tmp_path: Path, sm_env: dict[str, str]
) -> None:
    """Not every infer job failing one after another: one line before any job starts."""
    (tmp_path / "in.jsonl").write_text('{"path": "a.mp4"}\n')
    overlay = write_yaml(
        tmp_path / "run.yaml",
        {"input": str(tmp_path / "in.jsonl"), "vllm": {"model": str(tmp_path / "no-model")}},
    )
    proc = run_snakemake(tmp_path, [overlay], "-n", env=sm_env, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "vllm.model" in lines[0] and "no-model" in lines[0], proc.stderr
    assert "does not exist" in lines[0]
