"""Bad input: each error names the problem; setup errors are typed and carry the engine's message."""

import pytest

from conftest import READABLE
from sandlock import (CommandNotFoundError, PathNotFoundError, Policy, PolicyError, Sandbox, SandlockError)


def test_bad_field_value_names_field_and_form():
    with pytest.raises(PolicyError, match=r"max_memory: expected a size like 512M or 1G, found 'lots'"):
        Policy(max_memory="lots")
    with pytest.raises(PolicyError, match=r"max_cpu: expected a percentage from 1 to 100, found '500'"):
        Policy(max_cpu=500)
    with pytest.raises(PolicyError, match=r"clean_env: expected True or False"):
        Policy(clean_env="yes")
    with pytest.raises(PolicyError, match=r"on_exit: expected commit, abort or keep"):
        Policy(on_exit="merge")


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"'max_memroy'.*did you mean 'max_memory'"):
        Policy(max_memroy="1G")
    with pytest.raises(TypeError, match=r"'http_allowed'"):
        Policy(http_allowed=["GET example.com/"])


def test_missing_executable(sandbox_kernel):
    with pytest.raises(CommandNotFoundError, match=r"command not found: 'no-such-program-here'"):
        Sandbox(Policy(fs_readable=READABLE)).run(["no-such-program-here"])


def test_missing_path(sandbox_kernel):
    with pytest.raises(PathNotFoundError, match=r"fs_readable: cannot open '/no/such/tree'"):
        Sandbox(Policy(fs_readable=READABLE + ["/no/such/tree"])).run(["true"])


def test_empty_command_and_policy_errors_are_sandlock_errors():
    with pytest.raises(SandlockError, match="empty command"):
        Sandbox(Policy()).run([])
    assert issubclass(PolicyError, ValueError)
