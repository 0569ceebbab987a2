"""The check's one error type: a bad argument, named with its value and what is allowed."""

from __future__ import annotations

from typing import Any


class CheckError(ValueError):
    """'<param>=<value> is not allowed: <what is allowed>'. `param` is the Python keyword (the command
    line names the matching flag), `value` the value given, `allowed` the rest of the message."""

    def __init__(self, param: str, value: Any, allowed: str):
        self.param, self.value, self.allowed = param, value, allowed
        super().__init__(f"{param}={value!r} is not allowed: {allowed}")
