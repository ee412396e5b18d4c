"""Every command shown in README.md and docs/*.md runs, in a cheap but real way.

- `python -m video_pipeline...` and `python benchmarks/...`: the command with `--help`
  appended exits 0, and every flag it uses is in that help.
- `snakemake ...` in a ```bash block: a dry run (`-n`) through Snakemake's own command
  line, profiles included, with `my-run.yaml` standing for the demo config (clips on, so
  clip targets exist) and `$OUTDIR` for its outdir; a target that `--configfile` or
  `--config` swallows fails it. Written inline in the text: parsed by Snakemake's parser.
- `make X`: `make -n X` works and the files its recipe names exist.
- the rest (`pip install`, `pytest`, `cat` of rank journals, tools' scripts, opening the
  report): what they rely on exists.
Commands mentioned in the text (`launch --retry-errors`) are checked like the ones of
```bash blocks, except that values may be left out. The examples in each command's
--help (video_pipeline/cli/*.py) are checked the same way; a `--config` named must be
a kind the command takes (a workflow config only where its --help says so).
A command of a kind not listed here fails the test: add a check for it.
"""

from __future__ import annotations

import fnmatch
import glob
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, cli_env
from tests.markdown_docs import COMMAND_PAGES, inline_commands, shell_commands

OUTDIR = "demo/out"  # configs/demo.yaml's outdir, which my-run.yaml keeps
# Code spans in the text that are commands; `launch --gpus ...` is short for
# `python -m video_pipeline.cli.launch --gpus ...`.
SHORT = ("launch", "bench", "clips", "merge", "verify", "preflight", "report", "export")
INLINE = (
    "snakemake ",
    "python -m video_pipeline",
    "make ",
    "pip install -e",
    "pytest ",
    "tools/",
    "benchmarks/",
    *(f"{name} " for name in SHORT),
)
FLAG = re.compile(r"^--?[A-Za-z][\w-]*")


def documented() -> list[tuple[str, str, bool]]:
    """(page, command, in a ```bash block) for every command of the docs."""
    out = []
    for page in COMMAND_PAGES:
        name = str(page.relative_to(REPO))
        out += [(name, c, True) for c in shell_commands(page)]
        out += [(name, c, False) for c in inline_commands(page, INLINE)]
    return out


COMMANDS = documented()
SNAKEMAKE = [(c, block) for _, c, block in COMMANDS if c.startswith("snakemake")]


def words(command: str) -> list[str]:
    """Shell words; `[--flag value]` (an optional part) loses its brackets."""
    return [w.strip("[]") for w in shlex.split(command, comments=True) if w.strip("[]")]


def flags(argv: list[str]) -> list[str]:
    return [m.group(0) for w in argv if (m := FLAG.match(w))]


# ---- Snakemake: every command in one process --------------------------------------


def snakemake_argv(command: str, workdir: Path) -> list[str]:
    """The command's arguments as the shell would pass them in `workdir`: `$OUTDIR`
    expanded, globs matched against the files there (kept as written if none match)."""
    argv = []
    for w in words(command)[1:]:
        w = w.replace("$OUTDIR", OUTDIR)
        matches = sorted(glob.glob(w, root_dir=workdir)) if glob.has_magic(w) else []
        argv += matches or [w]
    return argv


@pytest.fixture(scope="module")
def dry_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder as after a first run: the demo config as `my-run.yaml`, `configs/`
    and `profiles/` of the repository, the part files a rerun forces and a task's
    results (not YAML: a swallowed target read as a config file fails on them)."""
    work = tmp_path_factory.mktemp("dry")
    for name in ("configs", "profiles"):
        (work / name).symlink_to(REPO / name)
    cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    cfg["clips"] = {"mode": "fixed", "seconds": 30, "summary": True}
    (work / "my-run.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    parts = work / OUTDIR / "parts" / "describe"
    parts.mkdir(parents=True)
    for shard in ("00000", "00001"):
        (parts / f"{shard}.jsonl").write_text("")
    results = work / OUTDIR / "results"
    results.mkdir(parents=True)
    (results / "describe.jsonl").write_text('{"__key": "a"}\n{"__key": "b"}\n')
    return work


def snakemake_batch(workdir: Path, commands: list[dict]) -> list[dict]:
    bin_dir = workdir / "bin"  # the SLURM plugin's `scontrol` probe: fail fast, no cluster
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "scontrol"
    stub.write_text("#!/bin/sh\nexit 1\n")
    stub.chmod(0o755)
    env = cli_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    for var in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES"):
        env.pop(var, None)
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "snakemake_batch.py"), str(workdir)],
        input=json.dumps(commands),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


# The form the docs must not show (a target after `--configfile`), and the fixed one;
# run in the same batch as the docs' commands.
SWALLOWED = "snakemake --cores all --configfile my-run.yaml $OUTDIR/results/describe.jsonl"
FIXED = "snakemake $OUTDIR/results/describe.jsonl --cores all --configfile my-run.yaml"
PROBES = [(SWALLOWED, "dry"), (SWALLOWED, "parse"), (FIXED, "dry")]


@pytest.fixture(scope="module")
def batch(dry_workdir: Path) -> list[dict]:
    commands = [(c, "dry" if block else "parse") for c, block in SNAKEMAKE] + PROBES
    argvs = [{"argv": snakemake_argv(c, dry_workdir), "mode": m} for c, m in commands]
    return snakemake_batch(dry_workdir, argvs)


@pytest.fixture(scope="module")
def snakemake_results(batch: list[dict]) -> dict[tuple[str, bool], dict]:
    return dict(zip(SNAKEMAKE, batch[: len(SNAKEMAKE)], strict=True))


@pytest.mark.parametrize("command,block", SNAKEMAKE, ids=lambda v: v if isinstance(v, str) else "")
def test_snakemake_command(command: str, block: bool, snakemake_results: dict):
    result = snakemake_results[command, block]
    assert result["ok"], result["log"]


def test_a_target_after_configfile_fails(batch: list[dict]):
    """The target after `--configfile` is read as a second config file (here a finished
    run's results, which are not YAML); the dry run fails, and so does the parse check."""
    dry, parse, fixed = batch[len(SNAKEMAKE) :]
    assert not dry["ok"] and "Config file is not valid JSON or YAML" in dry["log"]
    assert not parse["ok"] and "describe.jsonl" in parse["log"]
    assert fixed["ok"], fixed["log"]


def test_the_demo_writes_the_report_the_quick_start_opens(snakemake_results: dict):
    opened = [c for _, c, _ in COMMANDS if "webbrowser" in c]
    assert opened, "the quick start opens the demo's report"
    demo_run = ["snakemake", "--cores", "all", "--configfile", "configs/demo.yaml"]
    demo = next(r for (c, block), r in snakemake_results.items() if block and words(c) == demo_run)
    for command in opened:
        path = re.search(r"\$PWD/(\S+?)\"", command).group(1)
        assert f"output: {path}" in demo["log"]


# ---- everything else ---------------------------------------------------------------


def check_python(argv: list[str], mention: bool = False) -> None:
    """`python -m module ...` or `python script.py ...`: with --help it exits 0, and the
    help names every flag the command uses. A mention in the text (`launch --gpus`) may
    leave out values: --help goes right after the module and its subcommand."""
    if argv[1] == "-m" and argv[2] == "webbrowser":
        assert importlib.util.find_spec("webbrowser")  # checked with the demo's outputs
        return
    if argv[1] != "-m":
        assert (REPO / argv[1]).is_file(), f"no script {argv[1]}"
    run = argv[1:]
    if mention:
        lead = 2 if argv[1] == "-m" else 1
        while lead + 1 < len(argv) and not argv[lead + 1].startswith("-"):
            lead += 1
        run = argv[1 : lead + 1]
    proc = subprocess.run(
        [sys.executable, *run, "--help"],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    missing = [
        f
        for f in flags(argv[2:])
        if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", proc.stdout)
    ]
    assert not missing, f"flags not in --help: {missing}\n{proc.stdout}"
    check_config_kind(argv, proc.stdout)


def check_config_kind(argv: list[str], help_text: str) -> None:
    """`--config X` names a config the command takes: a workflow config (one of the
    repository's, or `my-run.yaml`, the docs' name for one) only for a command whose
    --help says it takes one, and a file of the repository only if it exists."""
    from video_pipeline.workflow.targets import is_workflow_config, read_yaml

    if "--config" not in argv[:-1]:
        return
    config = argv[argv.index("--config") + 1]
    if config.startswith("configs/"):
        assert (REPO / config).is_file(), f"no {config}"
        workflow = is_workflow_config(read_yaml(REPO / config))
    else:
        workflow = config == "my-run.yaml"
    takes_workflow = "workflow config" in " ".join(help_text.split())
    assert takes_workflow or not workflow, f"{argv[2]} takes a launch config, not {config}"


def check_make(argv: list[str]) -> None:
    """`make X` runs files that exist (-B: as on a fresh checkout, whatever is built here)."""
    proc = subprocess.run(
        ["make", "-n", "-B", *argv[1:]], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    named = re.findall(r"[\w./-]+\.(?:py|sh|yaml)\b", proc.stdout)
    assert named, proc.stdout
    missing = [p for p in named if not (REPO / p).exists()]
    assert not missing, f"`make {argv[1]}` runs files that do not exist: {missing}"


def check_pip(argv: list[str]) -> None:
    """`pip install -e ".[extra]"`: the extra exists."""
    # tomllib is 3.11+; the section's keys are plain `name = [...]` lines
    text = (REPO / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    known = set(re.findall(r"^([\w-]+) = ", section, re.M))
    target = argv[-1]
    assert argv[1:3] == ["install", "-e"] and target.startswith("."), argv
    extras = re.findall(r"\[([\w,-]+)\]", target)
    for extra in extras[0].split(",") if extras else []:
        assert extra in known, f"no extra {extra!r} in pyproject.toml"


def check_cat_journals(argv: list[str]) -> None:
    """`cat <output stem>.rank*.jsonl`: the pattern matches the rank journals' names."""
    from video_pipeline.io.journal import journal_path

    pattern = argv[1]
    output = pattern.replace(".rank*.jsonl", ".jsonl")
    assert all(fnmatch.fnmatch(str(journal_path(output, r)), pattern) for r in (0, 7, 12))


def check_pytest(argv: list[str]) -> None:
    """`pytest [-m EXPR] [paths]`: the paths exist and EXPR names registered markers."""
    text = (REPO / "pyproject.toml").read_text()
    for i, w in enumerate(argv[1:], 1):
        if argv[i - 1] == "-m":
            for marker in set(re.findall(r"\w+", w)) - {"and", "or", "not"}:
                assert re.search(rf'"{marker}: ', text), f"marker {marker} is not registered"
        elif not w.startswith("-"):
            assert (REPO / w).exists(), f"no {w}"


def check(command: str, mention: bool = False) -> None:
    argv = words(command)
    if argv[0] in SHORT:
        argv = ["python", "-m", f"video_pipeline.cli.{argv[0]}", *argv[1:]]
    if argv[0].endswith(".py"):  # a script named alone: run as `python <script>`
        argv = ["python", *argv]
    if argv[0] in {"python", "python3"}:
        check_python(argv, mention)
    elif argv[0] == "make":
        check_make(argv)
    elif argv[0] == "pip":
        check_pip(argv)
    elif argv[0] == "pytest":
        check_pytest(argv)
    elif argv[0] == "cat" and ".rank*" in argv[1]:
        check_cat_journals(argv)
    elif argv[0].endswith(".sh"):
        script = REPO / argv[0]
        assert script.is_file() and os.access(script, os.X_OK), argv[0]
    else:
        pytest.fail(f"no check for this kind of command: {command}")


@pytest.mark.parametrize(
    "page,command,block",
    [x for x in COMMANDS if not x[1].startswith("snakemake")],
    ids=lambda v: v[:60] if isinstance(v, str) else "",
)
def test_command(page: str, command: str, block: bool):
    check(command, mention=not block)


def help_examples() -> list[tuple[str, str]]:
    """(module, command) of each `python -m video_pipeline...` example in the --help
    texts (module docstrings) of video_pipeline/cli/*.py, continuation lines joined."""
    import ast

    out = []
    for path in sorted((REPO / "video_pipeline" / "cli").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        text = re.sub(r"\\\n\s*", " ", doc)
        out += [
            (path.stem, c.strip())
            for c in re.findall(r"^\s+(python -m video_pipeline.*)$", text, re.M)
        ]
    return out


HELP_EXAMPLES = help_examples()


@pytest.mark.parametrize("module,command", HELP_EXAMPLES, ids=lambda v: v[:60])
def test_help_example(module: str, command: str):
    check(command)


def test_every_command_with_a_config_shows_an_example():
    shown = {m for m, _ in HELP_EXAMPLES}
    assert {"launch", "merge", "preflight", "verify", "report", "export", "bench"} <= shown


def test_config_check_catches_a_workflow_config_given_to_launch():
    with pytest.raises(AssertionError, match=r"takes a launch config, not configs/demo\.yaml"):
        check("python -m video_pipeline.cli.launch --config configs/demo.yaml --nproc 2")
    check("python -m video_pipeline.cli.verify --config configs/demo.yaml")


def test_help_check_catches_an_unknown_flag():
    with pytest.raises(AssertionError, match="--no-such-flag"):
        check("python -m video_pipeline.cli.verify --config my.yaml --no-such-flag")


def test_every_page_was_read():
    pages = {p for p, _, _ in COMMANDS}
    assert {"README.md", "docs/workflow.md", "docs/launch.md", "docs/slurm.md"} <= pages
