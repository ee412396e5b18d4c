"""A user's model family, registered from a `run.plugins` module (used by the tests)."""

from video_pipeline.models import ModelProfile, register_model_family

TOY_VL = register_model_family(
    ModelProfile(
        name="toy_vl",
        label="Toy-VL",
        architectures=("ToyVLForConditionalGeneration",),
        patch_size=8,
        recommended_units={"total_pixels": 1024, "min_pixels": 4},
    )
)
