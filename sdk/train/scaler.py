"""Dynamic loss scaling for 16-bit training steps (the step graph side: ``TrainOptions.loss_scaling``)."""


# dynamic loss scaling (PyTorch's GradScaler defaults): the scale starts at 2^16, halves after a step with a
# non-finite gradient (which is skipped) and doubles after ``interval`` steps in a row without one
SCALER = {"init": 65536.0, "growth": 2.0, "backoff": 0.5, "interval": 2000}


def update_scale(state, ok: bool) -> bool:
    """Update ``state``'s loss scale after a step whose scaled gradients were all finite (``ok``) or not; returns
    ``ok``."""
    if ok:
        state["good_steps"] += 1
        if state["good_steps"] >= SCALER["interval"]:
            state["loss_scale"] *= SCALER["growth"]
            state["good_steps"] = 0
    else:
        state["loss_scale"] *= SCALER["backoff"]
        state["good_steps"] = 0
        state["skipped"] += 1
    return ok
