"""The JSON Schemas of the configs in `schemas/`, exported from the models.

`workflow.schema.json` is the Snakemake config (the Snakefile checks it with
`snakemake.utils.validate`, as catalog workflows do); `config.schema.json` a `launch`
config. Regenerate after changing a model: `python -m video_pipeline.config.schemas --write`
(a test fails while the committed files are stale).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from video_pipeline.config.schema import Config

DIR = Path(__file__).resolve().parents[2] / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE = "python -m video_pipeline.config.schemas --write"


def launch_schema() -> dict[str, Any]:
    return {"$schema": DRAFT, **Config.model_json_schema()}


def workflow_schema() -> dict[str, Any]:
    """The workflow's own keys, and the sections of a launch config less the keys the
    workflow sets per job (`MANAGED`); a section may be left empty."""
    from video_pipeline.workflow.settings import MANAGED, SEED_SECTIONS, WorkflowSettings

    launch = Config.model_json_schema()
    out = {"$schema": DRAFT, **WorkflowSettings.model_json_schema()}
    defs = {**copy.deepcopy(launch["$defs"]), **out.pop("$defs", {})}
    for path in MANAGED:
        section, key = path.split(".")
        sub = defs[_ref_name(launch["properties"][section])]
        sub["properties"].pop(key)
        sub["required"] = [k for k in sub.get("required", []) if k != key]
    for name in SEED_SECTIONS:
        out["properties"][name] = {"anyOf": [launch["properties"][name], {"type": "null"}]}
    out["$defs"] = dict(sorted(defs.items()))
    return out


def _ref_name(prop: dict[str, Any]) -> str:
    return prop["$ref"].rsplit("/", 1)[-1]


SCHEMAS = {"config.schema.json": launch_schema, "workflow.schema.json": workflow_schema}


def rendered() -> dict[Path, str]:
    return {DIR / name: json.dumps(make(), indent=2) + "\n" for name, make in SCHEMAS.items()}


def stale() -> list[Path]:
    return [p for p, text in rendered().items() if not p.is_file() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write the files (else: check them)")
    args = ap.parse_args(argv)
    if args.write:
        DIR.mkdir(exist_ok=True)
        for path, text in rendered().items():
            path.write_text(text)
        return 0
    old = stale()
    for path in old:
        print(f"{path} is stale: run {REGENERATE}", file=sys.stderr)
    return 1 if old else 0


if __name__ == "__main__":
    sys.exit(main())
