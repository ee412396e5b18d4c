"""The dataset contract: index -> `{__key, raw, llm_input}` or an error item.

`__getitem__` runs in DataLoader workers, so decoding overlaps generation. It never
raises: a sample that cannot be prepared comes back as `{__key, raw, error}`.
"""

from __future__ import annotations

import json
import os
import stat
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import torch
import torch.utils.data

from video_pipeline.config.schema import StorageConfig, VisionConfig
from video_pipeline.data import frames
from video_pipeline.data.decodes import AudioNeed, SampleDecodes
from video_pipeline.data.frames import DecodeSettings, decode_settings
from video_pipeline.data.sample import Prepared, Sample
from video_pipeline.data.samples import KeyedSampleError, SampleSource
from video_pipeline.errors import SampleError, describe_exception
from video_pipeline.io.record import Audio
from video_pipeline.models.profile import ModelProfile
from video_pipeline.storage.cache import local_copy
from video_pipeline.storage.urls import is_remote, remote_url
from video_pipeline.tasks.base import Task


class BaseDataset(torch.utils.data.Dataset):
    """Subclasses may override `video_uri` and `build_llm_input`, or `__getitem__` whole."""

    def __init__(
        self,
        samples: SampleSource,
        task: Task,
        processor: Any,
        vision: VisionConfig,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.samples = samples
        self.task = task
        self.processor = processor
        self.vision = vision
        self.params = params or {}
        base = samples.base_dir
        self.base_dir: str | Path = base if is_remote(str(base)) else Path(base)
        self.storage = StorageConfig()  # set by the rank: per-prefix options, timeouts

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        """The seed's item: `{__key, raw, llm_input}` or `{__key, raw, error}`."""
        return self.prepare(i, [self.task]).to_item()

    def prepare(
        self, i: int, tasks: Sequence[Task], served: Sequence[BaseDataset] | None = None
    ) -> Prepared:
        """Sample i for several tasks at once (`tasks[j]` served as task j), each video
        decoded once: one input per task, or the error that holds for every task.
        `served[j]` is task j's own dataset (its vision settings, its kind of input:
        frames, frames and audio, audio alone); by default this one.

        A failure of the video is the video's (`decode_error`); a failure of the task's
        messages or the chat template is the setup's (`internal_error`, retried by the
        next run), since it would fail every video alike.
        """
        t0, cpu0 = time.perf_counter(), time.process_time()
        frames.worker_start()
        item = Prepared(i, None, None, list(range(len(tasks))))
        try:
            sample = self.samples[i]
            item.key, item.raw = sample.key, sample.raw
            sample.video_uri = self.video_uri(sample.video)
            datasets = list(served) if served is not None else [self] * len(tasks)
            per_task = [
                d.task_messages(task, sample, sample.raw)
                for d, task in zip(datasets, tasks, strict=True)
            ]
            item.inputs, item.decodes = self.build_llm_inputs(per_task, datasets)
            item.audio = [d.heard(x) for d, x in zip(datasets, item.inputs, strict=True)]
        except KeyedSampleError as e:
            item.key, item.raw, item.error = e.key, e.raw, e.record_error()
        except SampleError as e:
            item.error = e.record_error()
        except Exception as e:  # a decoder's own exception types are many and unstable
            item.error = _decode_failure(e).record_error()
        if item.error is not None:
            item.inputs = None
        item.decode_s = time.perf_counter() - t0
        # this process's CPU time (FFmpeg's threads included), frames and peak RSS
        item.decode_stats = {
            "cpu_s": round(time.process_time() - cpu0, 4),
            **frames.take_figures(),
        }
        return item

    def task_messages(self, task: Task, sample: Sample, raw: Any) -> list[dict[str, Any]]:
        """The task's messages with the vision settings filled in."""
        try:
            messages = task.build_messages(sample)
            self.apply_vision(messages, raw)
        except SampleError:
            raise
        except Exception as e:
            raise _internal(f"{type(task).__name__}.build_messages", e) from e
        return messages

    def video_uri(self, value: Any) -> Any:
        """A local path (relative ones resolve against the input file's folder); a remote
        video's local copy (fetched ahead by the rank, else here)."""
        url = self.video_url(value)
        if url is not None:
            return local_copy(url, self.storage)
        path = _local_path(value, self.base_dir)
        check_video_file(path)
        return str(path)

    def video_url(self, value: Any) -> str | None:
        """The remote URL a row's video field names (a relative path of a remote
        input included), None for a local file; the rank fetches these ahead."""
        if not isinstance(value, str) or not value.strip():
            raise SampleError(
                "missing_video", f"video field must be a non-empty string, got {value!r}"
            )
        return remote_url(value, str(self.base_dir))

    def apply_vision(self, messages: list[dict[str, Any]], raw: dict[str, Any]) -> None:
        """Fill the config's vision settings and the row's clip bounds into video elements.

        Keys a task set itself win, so tasks written as in the seed (without vision
        settings) still get them.
        """
        extra = self.vision.video_element()
        for name in ("video_start", "video_end"):
            if raw.get(name) is not None:
                extra[name] = float(raw[name])
        for message in messages:
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for ele in content:
                if isinstance(ele, dict) and (ele.get("type") == "video" or "video" in ele):
                    for k, v in extra.items():
                        ele.setdefault(k, v)
                    if "nframes" in ele:
                        ele.pop("fps", None)

    def build_llm_input(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Decode with qwen_vl_utils and render the prompt: vLLM's offline input dict."""
        return self.build_llm_inputs([messages])[0][0]

    def build_llm_inputs(
        self, per_task: list[list[dict[str, Any]]], datasets: Sequence[BaseDataset] | None = None
    ) -> tuple[list[Any], int]:
        """Each task's input (`per_task[j]` its messages, `datasets[j]` its dataset, by
        default this one) from one decode of the sample (data/decodes.py).

        Tasks whose visual elements are equal (same video, same vision settings) share
        one decoded `multi_modal_data`: the same tensors, shipped once from the worker;
        a soundtrack is decoded once for every task that hears or transcribes it. A
        subclass with its own `build_llm_input` gets it called per task instead.
        Returns the inputs and the passes over the file (frames, soundtracks).
        """
        datasets = list(datasets) if datasets is not None else [self] * len(per_task)
        pairs = list(zip(datasets, per_task, strict=True))
        if any(type(d).build_llm_input is not BaseDataset.build_llm_input for d in datasets):
            return [d.build_llm_input(m) for d, m in pairs], len(pairs)
        prompts = [d.render_prompt(m) for d, m in pairs]  # the setup's failures first
        decodes = SampleDecodes()
        decodes.plan([need for d, m in pairs for need in d.audio_needs(m)])
        inputs = [d.input_from(m, p, decodes) for (d, m), p in zip(pairs, prompts, strict=True)]
        return inputs, decodes.count

    def input_from(
        self, messages: list[dict[str, Any]], prompt: str, decodes: SampleDecodes
    ) -> Any:
        """The task's engine input: its prompt with the sample's decoded frames (and
        audio, when it hears)."""
        return {"prompt": prompt, **self.visual_input(messages, decodes)}

    @property
    def hears(self) -> bool:
        """Whether this task's requests carry each video's audio track."""
        return self.vision.use_audio_in_video and self.profile.hears

    def audio_needs(self, messages: list[dict[str, Any]]) -> list[AudioNeed]:
        """The soundtrack ranges this task's input takes (none unless it hears)."""
        if not self.hears:
            return []
        heard = self.profile.max_audio_s
        needs = []
        for ele in video_elements(messages):
            path, start, end = audio_range(ele)
            if heard is not None:
                end = start + heard if end is None else min(end, start + heard)
            needs.append(AudioNeed(path, start, end))
        return needs

    def heard(self, llm_input: Any) -> Audio | None:
        """What the model hears of this task's request, for its record (None: it does
        not hear)."""
        return audio_facts(llm_input, self.profile) if self.hears else None

    def visual_input(
        self, messages: list[dict[str, Any]], decodes: SampleDecodes | None = None
    ) -> dict[str, Any]:
        """`multi_modal_data` and `mm_processor_kwargs`: the frames (shared with every
        task of the same frames), and the audio of each video when this task hears."""
        decodes = decodes or SampleDecodes()
        v = self.vision
        key = _visual_signature(messages) + f"|{v.resize}|{v.decode_device}|{v.frame_dtype}"
        seen = decodes.vision(key, lambda: self.decode_vision(messages))
        if not (self.hears and seen["multi_modal_data"].get("video")):
            return seen
        profile = self.profile
        tracks = [decodes.audio(need) for need in self.audio_needs(messages)]
        # vLLM pairs every video with an audio item or none: a video without an audio
        # track is heard by no one and seen as any other.
        if not tracks or any(t is None for t in tracks):
            return seen
        audio = [(t.samples[: profile.whole_hops(len(t.samples))], t.sample_rate) for t in tracks]
        return {
            "multi_modal_data": {**seen["multi_modal_data"], "audio": audio},
            "mm_processor_kwargs": {**seen["mm_processor_kwargs"], "use_audio_in_video": True},
        }

    def render_prompt(self, messages: list[dict[str, Any]]) -> str:
        try:
            return self.processor.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        except Exception as e:
            raise _internal("the chat template", e) from e

    def decode_vision(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """`multi_modal_data` and `mm_processor_kwargs` of the messages' images and videos
        (their frames: `visual_input` adds the audio of a task that hears).

        Frames are sized in multiples of the model family's pixel factor, and each
        video travels with its metadata (vLLM needs it for Qwen2.5-VL, Qwen3-VL and
        GLM-4.1V, whose timestamps come from its frame indices).
        """
        from qwen_vl_utils import process_vision_info

        profile = self.profile
        # The installed reader decodes in chunks, each resized to the size fetch_video
        # will keep (frames.py): the same frames, in memory bounded by the output.
        settings = DecodeSettings(
            factor=profile.patch_size * 2,
            resize=self.vision.resize,
            device=self.vision.decode_device,
        )
        with decode_settings(settings):
            images, videos, video_kwargs = process_vision_info(
                messages,
                return_video_kwargs=True,
                return_video_metadata=True,
                image_patch_size=profile.patch_size,
            )
        mm: dict[str, Any] = {}
        if images:
            mm["image"] = images
        if videos:
            videos = [_frames_as(v, self.vision.frame_dtype) for v in videos]
            # (frames, metadata) pairs, with the metadata the family's processor reads
            mm["video"] = [profile.video_item(*v) if isinstance(v, tuple) else v for v in videos]
        # The family's kwargs (do_resize=False for the Qwen-VL and GLM-4.1V families):
        # frames reach the model as sized here, or as the family's processor resizes them.
        if videos:
            kwargs = {
                **video_kwargs,
                **profile.mm_processor_kwargs,
                **profile.video_kwargs(mm["video"]),
            }
        else:
            kwargs = video_kwargs
        return {"multi_modal_data": mm, "mm_processor_kwargs": kwargs}

    @property
    def profile(self) -> ModelProfile:
        """The model family: as set by whoever built the dataset, else the family of
        the model `self.processor` was loaded from (its config.json)."""
        given = self.__dict__.get("_profile")
        if given is not None:
            return given
        from video_pipeline.models import UnsupportedModelError, profile_for_processor

        try:
            return profile_for_processor(self.processor)
        except UnsupportedModelError as e:  # the setup's fault, the same for every video
            raise SampleError("internal_error", str(e)) from None

    @profile.setter
    def profile(self, value: ModelProfile) -> None:
        self.__dict__["_profile"] = value


def video_elements(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The video elements of the messages, in the order qwen_vl_utils decodes them."""
    return [
        ele
        for message in messages
        if isinstance(message.get("content"), list)
        for ele in message["content"]
        if isinstance(ele, dict) and (ele.get("type") == "video" or "video" in ele)
    ]


def audio_range(ele: dict[str, Any]) -> tuple[str, float, float | None]:
    """(file, start, end) of a video element's soundtrack: its clip range, if any."""
    path = ele["video"]
    if isinstance(path, str) and path.startswith("file://"):
        path = unquote(urlparse(path).path)
    end = ele.get("video_end")
    return path, float(ele.get("video_start") or 0.0), None if end is None else float(end)


def audio_facts(llm_input: dict[str, Any], profile: ModelProfile) -> Audio:
    """What the model hears of a request: whether the video had audio, its seconds,
    and the prompt tokens it adds."""
    tracks = (llm_input.get("multi_modal_data") or {}).get("audio") or []
    if not tracks:
        return Audio(present=False, seconds=0.0, tokens=0)
    seconds = sum(len(t[0]) / t[1] for t in tracks)
    tokens = sum(profile.audio_in_video_tokens(len(t[0])) for t in tracks)
    return Audio(present=True, seconds=round(seconds, 3), tokens=tokens)


def _visual_signature(messages: list[dict[str, Any]]) -> str:
    """The image and video elements of the messages, as a comparable string."""
    elements = [
        ele
        for message in messages
        if isinstance(message.get("content"), list)
        for ele in message["content"]
        if isinstance(ele, dict) and ele.get("type") != "text" and "text" not in ele
    ]
    return json.dumps(elements, sort_keys=True, default=str)


def _frames_as(video: Any, dtype: str) -> Any:
    """Frames (alone or in a (frames, metadata) pair) as `vision.frame_dtype`.

    A video file's frames come uint8 from the installed `fetch_video` (frames.py), so
    for `uint8` nothing is done. Frames from qwen_vl_utils' own `fetch_video` (a list
    of images, or a `fetch_video` someone else installed) are float32 holding whole
    values in 0-255, so rounding them back changes no value. With the profile's
    `do_resize: False` the model sees the same values either way; a family whose
    processor resizes frames itself (LLaVA-OneVision, InternVL) resizes uint8 frames
    as it would a decoded video's, and rounds its output where float input would not.
    """
    if isinstance(video, tuple):
        return (_frames_as(video[0], dtype), *video[1:])
    if not isinstance(video, torch.Tensor):
        return video
    if dtype == "float32":
        return video.float()
    if video.is_floating_point():
        # in place: no second float32 copy of every frame at the decode's peak
        return video.round_().clamp_(0, 255).to(torch.uint8)
    return video


def check_video_file(path: Path) -> None:
    """Raise the right error for a path that is not a regular file we may open.

    A FIFO would block the decoder forever and a folder gives a confusing decoder
    message, so both are named as what they are.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SampleError("video_not_found", f"no such file: {_printable(path)}") from None
    except UnicodeEncodeError:  # a lone surrogate no file system name can hold
        raise SampleError(
            "video_not_found", f"no such file (the name is not encodable): {_printable(path)}"
        ) from None
    except OSError as e:
        raise SampleError(
            "video_not_found", f"cannot stat {_printable(path)}: {e.strerror}"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        what = _FILE_TYPES.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise SampleError("not_a_file", f"{_printable(path)} is {what}, not a video file")


_FILE_TYPES = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _printable(path: Path) -> str:
    return ascii(str(path))[1:-1] if not str(path).isprintable() else str(path)


def _decode_failure(e: Exception) -> SampleError:
    """An exception out of decoding: the video's fault, unless the setup is missing."""
    if isinstance(e, FileNotFoundError):
        return SampleError("video_not_found", describe_exception(e))
    if isinstance(e, (ImportError, NameError)):  # a missing module fails every video
        return _internal("decoding", e)
    message = describe_exception(e)
    if os.environ.get("VIDEO_PIPELINE_DEBUG"):
        message += "\n" + traceback.format_exc()
    return SampleError("decode_error", message)


def _internal(where: str, e: Exception) -> SampleError:
    return SampleError("internal_error", f"{where} raised {describe_exception(e)}")


def _local_path(value: str, base_dir: Path) -> Path:
    parsed = urlparse(value)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path
