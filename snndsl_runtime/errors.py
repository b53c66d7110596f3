"""Errors in a run's input: reported as `error[CODE]: message` with exit status 2, no traceback."""


class RunError(Exception):
    """Bad input to a run: configuration, data files, checkpoint.

    `node` names the spec element at fault ("task", "input:obs", "output:action"), so `snndsl run`
    can point at its line.
    """

    def __init__(self, code: str, message: str, hint: str | None = None, node: str | None = None):
        super().__init__(message)
        self.code, self.message, self.hint, self.node = code, message, hint, node

    def __str__(self) -> str:
        text = f"error[{self.code}]: {self.message}"
        return text + (f"\n  = hint: {self.hint}" if self.hint else "")


class NonFiniteError(RunError):
    """A NaN or inf appeared in a tracked quantity."""

    def __init__(self, step_name: str, step: int, quantity: str, saved: bool = True):
        kept = "the last checkpoint is intact" if saved else "no checkpoint had been written yet"
        super().__init__("E831", f"{quantity} is not finite (NaN or inf) at {step_name} {step}",
                         f"lower the learning rate, or check the inputs and gains; {kept}")
        self.step, self.quantity = step, quantity
