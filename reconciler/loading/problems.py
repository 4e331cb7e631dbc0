"""The error every loader raises for input it refuses: a finding's rule, place and reason."""

from __future__ import annotations


class LoadError(Exception):
    """Input a loader refuses; `line` and `column` are 1-based."""

    def __init__(self, rule: str, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.line = line
        self.column = column
        self.message = message
