"""Registries and the built-in tasks' messages and parsing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import cli_env
from video_pipeline.registry import Registry, RegistryError
from video_pipeline.tasks.base import ParseError, Task
from video_pipeline.tasks.registry import available_tasks, get_task_class, register_task


def test_registry_duplicate_and_unknown():
    reg: Registry[int] = Registry("thing")
    reg.add("alpha", 1)
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("alpha", 2)
    with pytest.raises(RegistryError) as err:
        reg.get("alpah")
    assert "available: alpha" in str(err.value)
    assert "Did you mean 'alpha'" in str(err.value)


def test_registry_refuses_items_of_another_kind():
    reg: Registry[int] = Registry("number", base_cls=int)
    assert reg.add("one", 1) == 1 and reg.add("bool", bool) is bool  # an instance, a subclass
    with pytest.raises(RegistryError, match="registering a number needs a int or a subclass"):
        reg.add("two", "2")
    with pytest.raises(RegistryError, match="needs a Task or a subclass of it, got 'echo'"):
        register_task("echo")  # type: ignore[arg-type]


def test_register_task_seed_api():
    @register_task
    class EchoTask(Task):
        name = "echo_for_test"

        def build_messages(self, sample):
            return [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What happens in this video?"},
                        {"type": "video", "video": sample["__video_uri"]},
                    ],
                }
            ]

        def parse(self, generated_text, sample):
            return {"answer": generated_text.strip()}

    assert get_task_class("echo_for_test") is EchoTask
    assert "echo_for_test" in available_tasks()
    with pytest.raises(RegistryError, match="already registered"):

        @register_task
        class Other(Task):
            name = "echo_for_test"


def test_register_task_needs_a_name():
    with pytest.raises(RegistryError, match="non-empty `name`"):

        @register_task
        class Nameless(Task):
            pass


def test_plugin_module_registers_from_config(tmp_path: Path):
    pkg = tmp_path / "my_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "my_task.py").write_text(
        textwrap.dedent("""
        from video_pipeline.tasks.base import Task
        from video_pipeline.tasks.registry import register_task

        @register_task
        class MyTask(Task):
            name = "my_task"
            def build_messages(self, sample):
                return self.video_first(sample["__video_uri"], "What happens?")
            def parse(self, text, sample):
                return {"answer": text}
    """)
    )
    code = textwrap.dedent("""
        from video_pipeline.config import load_config
        cfg = load_config("configs/describe.yaml",
                          overrides=["run.task=my_task", "run.plugins=[my_pkg.my_task]"])
        print(cfg.run.task)
    """)
    env = cli_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "my_task"


def _video_and_text(messages):
    content = messages[-1]["content"]
    return [c["type"] for c in content], content


def test_describe_messages_put_video_first_and_take_prompt():
    task = get_task_class("describe")(prompt="Say hi.")
    types, content = _video_and_text(task.build_messages({"__video_uri": "/v.mp4"}))
    assert types == ["video", "text"]  # shared video prefix for the prefix cache
    assert content[0]["video"] == "/v.mp4"
    assert content[1]["text"] == "Say hi."
    assert task.parse("  a cat  ", {}) == {"description": "a cat"}
    with pytest.raises(ParseError):
        task.parse("   ", {})


def test_structured_caption_schema_and_parse():
    task = get_task_class("structured_caption")(fields=["summary", "objects"], max_items=2)
    schema = task.json_schema()
    assert schema["required"] == ["summary", "objects"]
    assert schema["properties"]["objects"]["maxItems"] == 2
    jsonschema.Draft7Validator.check_schema(schema)
    good = {"summary": "a dog runs", "objects": ["dog"]}
    assert task.parse(json.dumps(good), {}) == good
    with pytest.raises(ParseError, match="not valid JSON"):
        task.parse('{"summary": "trunc', {})
    with pytest.raises(ParseError, match="does not match the schema"):
        task.parse(json.dumps({"summary": "x"}), {})
    with pytest.raises(ParseError, match="does not match the schema"):
        task.parse(json.dumps({**good, "extra": 1}), {})
    _, content = _video_and_text(task.build_messages({"__video_uri": "/v.mp4"}))
    assert "summary, objects" in content[1]["text"]
