"""Stages: tasks whose prompts use other tasks' answers (`after:` in `tasks`).

template.py  what a prompt may name ({task.text}, {task.result.field}, {raw.path})
check.py     the config checks at load (after names, cycles, template fields)
plan.py      linking each task to its upstream (the fingerprint chain) and the order
upstream.py  per sample: the upstream records of a key, the filled prompt, `upstream`
"""
