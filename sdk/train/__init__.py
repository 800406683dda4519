"""On-device training: the training step as a compiled graph (``docs/training.md``)."""
