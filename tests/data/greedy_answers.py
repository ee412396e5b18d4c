"""Greedy answers of one engine to the same videos decoded three ways (a test's child).

`python tests/data/greedy_answers.py CONFIG OUT`: the config's samples decoded by
unmodified qwen_vl_utils (the chunked reader left out: no decode settings), by the
chunked `exact` path and by `fast`; each set answered greedily by one engine; OUT gets
the token ids and whether the exact frames equal the unmodified ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def main(config: str, out: str) -> None:
    import torch
    from transformers import AutoProcessor

    from video_pipeline import bench
    from video_pipeline.config import load_config
    from video_pipeline.data import base
    from video_pipeline.data.video_reader import install_reader
    from video_pipeline.engine.vllm_engine import build_llm, build_sampling_params
    from video_pipeline.tasks.registry import get_task_class

    cfg = load_config(config)
    install_reader(cfg.vision.reader)
    processor = AutoProcessor.from_pretrained(cfg.vllm.model)
    task = get_task_class(cfg.run.task)(**cfg.task_kwargs)

    def items(resize: str, chunked: bool = True) -> list[dict[str, Any]]:
        vision = cfg.vision.model_copy(update={"resize": resize})
        dataset = bench.build_dataset(cfg.model_copy(update={"vision": vision}), task, processor)
        settings = base.decode_settings
        if not chunked:  # fetch_video with the library's own reader and whole-stack resize
            base.decode_settings = lambda _s: contextlib.nullcontext()
        try:
            return [dataset[i] for i in range(len(dataset))]
        finally:
            base.decode_settings = settings

    decoded = {"old": items("exact", chunked=False), "exact": items("exact"), "fast": items("fast")}
    for name, its in decoded.items():
        bad = [it.get("error") for it in its if "llm_input" not in it]
        assert not bad, (name, bad)

    def frames(it: dict[str, Any]) -> torch.Tensor:
        video = it["llm_input"]["multi_modal_data"]["video"][0]
        return video[0] if isinstance(video, tuple) else video

    pairs = zip(decoded["old"], decoded["exact"], strict=True)
    same = [torch.equal(frames(a), frames(b)) for a, b in pairs]
    llm = build_llm(cfg.vllm)
    params = build_sampling_params(cfg.sampling, task)
    result: dict[str, Any] = {"keys": [it["__key"] for it in decoded["old"]], "frames_equal": same}
    for name, its in decoded.items():
        outs = llm.generate([it["llm_input"] for it in its], params, use_tqdm=False)
        result[name] = [list(o.outputs[0].token_ids) for o in outs]
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
