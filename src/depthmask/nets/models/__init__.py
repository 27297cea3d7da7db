"""Networks N and G, looked up by name: `create_model("hu2019_densenet161")`, `list_models("mask*")`."""

from depthmask.nets.models import fcrn, hu2019, masknet  # noqa: F401  (registers the networks)
from depthmask.nets.models.registry import ModelEntry, create_model, list_models, model_entry, register_model

__all__ = ["ModelEntry", "create_model", "list_models", "model_entry", "register_model"]
