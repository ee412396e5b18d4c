"""Batch vision-language inference over video collections."""

from video_pipeline.devices import use_nvml_cuda_check

__version__ = "0.1.0"

# Before any code of the package, or a library it imports, asks torch about CUDA: an
# answer from the CUDA runtime would leave the process unable to fork vLLM's engine.
use_nvml_cuda_check()
