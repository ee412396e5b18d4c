# Inputs of the demo (configs/demo.yaml): generated videos and a tiny model, built as the
# first step of the DAG. Other configs never ask for these files, so it never runs.


rule demo_inputs:
    output:
        rows=DEMO_INPUT,
        videos=directory("demo/videos"),
        model=directory("demo/tiny-qwen2.5-vl"),
    params:
        n_videos=8,
    log:
        "demo/logs/demo_inputs.log",
    conda:
        SOFTWARE
    script:
        "../scripts/demo_inputs.py"


# The text LLM of the stages demo (configs/stages.yaml): asked for only by the infer
# jobs of tasks whose `vllm.model` is this folder.
rule demo_text_model:
    output:
        model=directory(DEMO_TEXT_MODEL),
    log:
        "demo/logs/demo_text_model.log",
    conda:
        SOFTWARE
    script:
        "../scripts/demo_text_model.py"


# The speech model of the transcription demo (configs/transcribe.yaml): asked for only by
# the infer jobs of tasks whose `vllm.model` is this folder.
rule demo_whisper:
    output:
        model=directory(DEMO_WHISPER),
    log:
        "demo/logs/demo_whisper.log",
    conda:
        SOFTWARE
    script:
        "../scripts/demo_whisper.py"
