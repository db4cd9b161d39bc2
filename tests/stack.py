"""The no-Docker stack of the tests: a private one (see ml_pipeline_stack.private) whose failed
commands fail the test."""

import pytest

from ml_pipeline_stack.private import PrivateStack, StackCommandFailed


class Stack(PrivateStack):
    def __call__(self, *args: str, check: bool = True, timeout: float = 900):
        try:
            return super().__call__(*args, check=check, timeout=timeout)
        except StackCommandFailed as failure:
            pytest.fail(str(failure))
