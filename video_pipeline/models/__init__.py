"""Model families: the geometry, request kwargs and token layout of each VLM family.

Importing this registers the built-ins: Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3-VL-MoE,
LLaVA-OneVision, GLM-4.1V, InternVL3.5 (transformers format), and the Omni families
that also hear a video's audio: Qwen2.5-Omni and Qwen3-Omni-MoE.
"""

from video_pipeline.models.glm4v import GLM4V
from video_pipeline.models.internvl import INTERNVL
from video_pipeline.models.llava_onevision import LLAVA_ONEVISION
from video_pipeline.models.profile import ModelProfile, ProcessorBounds
from video_pipeline.models.qwen import BUILTIN, Qwen3VLProfile
from video_pipeline.models.qwen_omni import BUILTIN as OMNI
from video_pipeline.models.qwen_omni import OmniProfile
from video_pipeline.models.registry import (
    MODEL_FAMILIES,
    UnsupportedModelError,
    available_model_families,
    family_for_config,
    get_model_family,
    profile_for_processor,
    register_model_family,
    resolve_profile,
)

for _profile in (*BUILTIN, LLAVA_ONEVISION, GLM4V, INTERNVL, *OMNI):
    register_model_family(_profile)

__all__ = [
    "MODEL_FAMILIES",
    "ModelProfile",
    "OmniProfile",
    "ProcessorBounds",
    "Qwen3VLProfile",
    "UnsupportedModelError",
    "available_model_families",
    "family_for_config",
    "get_model_family",
    "profile_for_processor",
    "register_model_family",
    "resolve_profile",
]
