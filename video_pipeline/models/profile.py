"""What the pipeline must know about a vision-language model family.

A `ModelProfile` holds a family's geometry (patch, spatial merge, temporal patch, and
from them the pixel factor that frame sides are multiples of), the processor kwargs
sent with every request, how many prompt tokens a decoded video becomes inside vLLM,
and the recommended vision budgets in the family's pixel units. Code below the profile
never assumes a patch size, a pixel factor or a token layout of its own.

The base class counts as vLLM does for Qwen2-VL and Qwen2.5-VL: one token per merged
patch. A family whose prompt carries more (Qwen3-VL's per-frame timestamps) overrides
`video_tokens`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

# Tokens of a piece of text, as the engine's tokenizer cuts it.
TextCounter = Callable[[str], int]

VISION_PIXEL_KEYS = ("total_pixels", "min_pixels", "max_pixels")


@dataclass(frozen=True)
class ModelProfile:
    """One model family, as matched against a checkpoint's `config.json`."""

    name: str  # registry name, e.g. "qwen3_vl"
    label: str  # for people, e.g. "Qwen3-VL"
    architectures: tuple[str, ...]  # config.json `architectures` entries it serves
    patch_size: int  # a checkpoint's vision_config.patch_size overrides it
    model_types: tuple[str, ...] = ()  # config.json `model_type` values (a fallback)
    merge_size: int = 2
    temporal_patch_size: int = 2
    hears: bool = False  # takes a video's audio track too (`vision.use_audio_in_video`)
    max_audio_s: float | None = None  # a track's seconds the model keeps (None: all)
    # Sent with every request. qwen_vl_utils has already sized the frames to the vision
    # settings (in multiples of the pixel factor); without do_resize=False the model's
    # processor inside vLLM resizes them again to its own bounds, and the settings are
    # lost (Qwen3-VL's does so whenever T*H*W leaves its `size` bounds).
    mm_processor_kwargs: Mapping[str, Any] = field(
        default_factory=lambda: {"do_resize": False}, hash=False
    )
    # Recommended budgets, in pixel units (one unit = pixel_factor**2 pixels, one merged
    # token of one frame): the table of docs/models.md and the hints of the vision check.
    recommended_units: Mapping[str, int] = field(
        default_factory=lambda: {"total_pixels": 20480, "min_pixels": 16}, hash=False
    )

    def __post_init__(self) -> None:
        for name in ("patch_size", "merge_size", "temporal_patch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{self.name}: {name} must be a positive integer")
        if not self.architectures and not self.model_types:
            raise ValueError(f"{self.name}: name at least one architecture or model_type")
        # Own copies: a profile is shared by every request and must not change.
        object.__setattr__(self, "mm_processor_kwargs", dict(self.mm_processor_kwargs))
        object.__setattr__(self, "recommended_units", dict(self.recommended_units))

    @property
    def pixel_factor(self) -> int:
        """Frame sides are multiples of this (28 for patch 14, 32 for patch 16)."""
        return self.patch_size * self.merge_size

    @property
    def pixel_unit(self) -> int:
        """Pixels of one merged token of one frame: the unit of the pixel budgets."""
        return self.pixel_factor**2

    def recommended_vision(self) -> dict[str, int]:
        """The recommended `vision` pixel settings, in pixels."""
        return {k: n * self.pixel_unit for k, n in self.recommended_units.items()}

    def with_config(self, config: Mapping[str, Any]) -> ModelProfile:
        """This family with the sizes a checkpoint's `config.json` declares."""
        vision = config.get("vision_config")
        return self.with_geometry(vision) if isinstance(vision, Mapping) else self

    def video_item(self, frames: Any, metadata: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """A decoded video as this family's vLLM processor takes it: (frames, metadata)
        with the metadata it reads (the frames' indices and fps, for timestamps)."""
        return frames, metadata

    def video_kwargs(self, videos: list[Any]) -> dict[str, Any]:
        """Processor kwargs a request's decoded videos call for (none by default)."""
        return {}

    def with_geometry(self, vision_config: Mapping[str, Any]) -> ModelProfile:
        """This family with the sizes a checkpoint's `vision_config` declares."""
        found = {
            "patch_size": vision_config.get("patch_size"),
            "merge_size": vision_config.get("spatial_merge_size"),
            "temporal_patch_size": vision_config.get("temporal_patch_size"),
        }
        given = {k: v for k, v in found.items() if isinstance(v, int) and v > 0}
        return dataclasses.replace(self, **given) if given else self

    # ---- token counts, as vLLM expands the prompt's one placeholder per item ----

    def grid(self, t: int, h: int, w: int) -> tuple[int, int]:
        """(temporal groups, tokens per group) of a (T, C, H, W) video as it reaches
        the vision tower: vLLM pads T to a multiple of the temporal patch."""
        grid_t = max(math.ceil(t / self.temporal_patch_size), 1)
        per_group = (h // self.patch_size) * (w // self.patch_size) // self.merge_size**2
        return grid_t, per_group

    def video_tokens(
        self,
        shape: tuple[int, ...],
        metadata: Mapping[str, Any] | None,
        count_text: TextCounter,
    ) -> int:
        """Tokens the video's single placeholder becomes in the prompt."""
        t, _c, h, w = shape
        grid_t, per_group = self.grid(t, h, w)
        return grid_t * per_group

    # False where images go through tiling this count does not model (anyres, InternVL's
    # tiles): the engine validates their length itself.
    counts_images: ClassVar[bool] = True

    def image_tokens(self, width: int, height: int) -> int:
        if not self.counts_images:
            raise ValueError(f"{self.label} image prompts are counted by the engine")
        return (height // self.patch_size) * (width // self.patch_size) // self.merge_size**2

    # ---- hearing: families with `hears` (Omni) override these ----

    @staticmethod
    def whole_hops(n_samples: int) -> int:
        """Samples of a track to send: all, unless the family pads partial hops."""
        return n_samples

    def audio_in_video_tokens(self, n_samples: int) -> int:
        """Prompt tokens a video's audio track of `n_samples` adds."""
        raise ValueError(f"{self.label} cannot hear audio")

    def sampled_indices(self, metadata: Mapping[str, Any] | None) -> tuple[list[int], float]:
        """(frame indices, source fps) of a sampled video, for families whose prompt
        writes timestamps: vLLM refuses such a video without them, so there is no count."""
        if not metadata or not metadata.get("fps") or "frames_indices" not in metadata:
            raise ValueError(f"{self.label} needs video metadata with fps and frames_indices")
        return [int(i) for i in metadata["frames_indices"]], metadata["fps"]

    def processor_frame_size(
        self, t: int, h: int, w: int, bounds: ProcessorBounds
    ) -> tuple[int, int]:
        """(H, W) after the family's HF video processor resizes (when not told not to):
        Qwen2-VL's rule, shared by Qwen2.5-VL."""
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import smart_resize

        max_pixels = bounds.max_pixels
        if bounds.cap_pixels_per_frame and bounds.max_video_tokens:
            total = int(bounds.max_video_tokens * self.pixel_unit * 0.9)
            share = total * self.temporal_patch_size // max(t, 1)
            max_pixels = max(min(max_pixels, share), int(bounds.min_pixels * 1.05))
        return smart_resize(
            h, w, factor=self.pixel_factor, min_pixels=bounds.min_pixels, max_pixels=max_pixels
        )

    # ---- the vision settings, in this family's units ----

    def check_vision(self, vision: Any) -> tuple[list[str], list[str]]:
        """(errors, warnings) about `vision` pixel settings for this family.

        A budget below one pixel unit cannot be met (a frame is at least one factor x
        factor block): an error. A budget that is not a whole number of units works
        (qwen_vl_utils rounds frame sides) but usually means the value was written in
        another family's units: a warning that names the multiple to use.
        """
        errors, warnings = [], []
        unit, f = self.pixel_unit, self.pixel_factor
        for key in VISION_PIXEL_KEYS:
            value = getattr(vision, key, None)
            if value is None:
                continue
            if value < unit:
                errors.append(
                    f"vision.{key} must be at least one {self.label} pixel unit "
                    f"({f}*{f}={unit}), got {value}; use a multiple of {unit}"
                    f"{self._example(key)}"
                )
            elif value % unit:
                warnings.append(
                    f"vision.{key}={value} is {value / unit:g} x {f}*{f}, not a whole number "
                    f"of {self.label} pixel units; use a multiple of {unit}, e.g. "
                    f"{value // unit * unit} ({value // unit}*{f}*{f}) or "
                    f"{(value // unit + 1) * unit} ({value // unit + 1}*{f}*{f})"
                    f"{_other_units(value, f)}"
                )
        return errors, warnings

    def _example(self, key: str) -> str:
        n = self.recommended_units.get(key)
        f = self.pixel_factor
        return f" (recommended: {n * self.pixel_unit} = {n}*{f}*{f})" if n else ""


def _other_units(value: int, factor: int) -> str:
    """A hint when the value is a whole number of another Qwen-VL factor's units."""
    for other in (28, 32):
        if other != factor and value % (other * other) == 0:
            n = value // (other * other)
            return (
                f"; {value} = {n}*{other}*{other} looks written for pixel factor {other}: "
                f"the same {n} units here are {n * factor * factor}"
            )
    return ""


@dataclass(frozen=True)
class ProcessorBounds:
    """The pixel bounds a model's HF video processor resizes frames to (read from the
    loaded processor), used only when a request lets the processor resize."""

    resize: bool = False
    min_pixels: int = 0
    max_pixels: int = 0
    cap_pixels_per_frame: bool = False
    max_video_tokens: int = 0

    @classmethod
    def of(cls, processor: Any) -> ProcessorBounds:
        sub = getattr(processor, "video_processor", None) or getattr(
            processor, "image_processor", None
        )
        size = getattr(sub, "size", None)
        lo = getattr(size, "shortest_edge", None) or getattr(sub, "min_pixels", None)
        hi = getattr(size, "longest_edge", None) or getattr(sub, "max_pixels", None)
        return cls(
            resize=bool(getattr(sub, "do_resize", False) and lo and hi),
            min_pixels=int(lo or 0),
            max_pixels=int(hi or 0),
            cap_pixels_per_frame=bool(getattr(sub, "cap_pixels_per_frame", False)),
            max_video_tokens=int(getattr(sub, "max_video_tokens", None) or 0),
        )
