"""On-device training: the training step as a compiled graph (``docs/training.md``)."""
from .bundle import TrainBundle, compile_train  # noqa: F401
