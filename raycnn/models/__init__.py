"""Model registry and architectures (one file per family)."""

from raycnn.models import airbench, alexnet, custom_cnn, resnet  # noqa: F401  (registers the architectures)
from raycnn.models.external import zoo_names
from raycnn.models.registry import (build_for_shapes, build_model, check_arch, check_model_options, count_parameters,
                                    dry_forward, get_constructor, list_models, model_options, register_model)

__all__ = ["build_for_shapes", "build_model", "check_arch", "check_model_options", "count_parameters", "dry_forward",
           "get_constructor", "list_models", "model_options", "register_model", "zoo_names"]
