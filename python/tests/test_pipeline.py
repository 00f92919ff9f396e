"""Pipelines (`|`): the reference README's pipeline and XOA examples on local paths."""

from conftest import PYTHON, READABLE
from sandlock import Policy, Sandbox


def _data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.csv").write_text("secret,value\n")
    return data


def test_readme_pipeline_reader_has_data_processor_does_not(sandbox_kernel, tmp_path):
    data = _data(tmp_path)
    trusted = Policy(fs_readable=READABLE + [str(data)])
    restricted = Policy(fs_readable=READABLE)
    result = (
        Sandbox(trusted).cmd(["cat", str(data / "secret.csv")])
        | Sandbox(restricted).cmd(["tr", "a-z", "A-Z"])
    ).run()
    assert result.success
    assert b"SECRET" in result.stdout
    assert [stage.reason for stage in result.stages] == ["exited", "exited"]

    # The restricted stage cannot read the data itself (and a failing stage fails the pipeline).
    denied = (
        Sandbox(trusted).cmd(["echo", "x"])
        | Sandbox(restricted).cmd(["cat", str(data / "secret.csv")])
    ).run()
    assert not denied.success
    assert b"Permission denied" in denied.stderr
    assert denied.stages[0].success


def test_readme_xoa_planner_generates_executor_runs(sandbox_kernel, tmp_path):
    data = _data(tmp_path)
    (data / "input.txt").write_text("input for the executor\n")
    planner = Policy(fs_readable=READABLE)
    executor = Policy(fs_readable=READABLE + [str(data)])
    result = (
        Sandbox(planner).cmd([PYTHON, "-c", "print('cat %s/input.txt')" % data])
        | Sandbox(executor).cmd(["sh"])
    ).run()
    assert result.success
    assert result.stdout == b"input for the executor\n"
    # The planner itself has no access to the data.
    peek = Sandbox(planner).run(["cat", str(data / "input.txt")])
    assert not peek.success and b"Permission denied" in peek.stderr


def test_three_stages_and_input(sandbox_kernel):
    policy = Policy(fs_readable=READABLE)
    result = (Sandbox(policy).cmd(["tr", "a-z", "A-Z"]) | Sandbox(policy).cmd(["rev"]) | Sandbox(policy).cmd(["wc", "-c"])).run(input=b"abc\n")
    assert result.success and result.stdout.strip() == b"4"
    assert len(result.stages) == 3


def test_a_stage_that_cannot_start_names_itself(sandbox_kernel):
    import pytest
    from sandlock import CommandNotFoundError

    policy = Policy(fs_readable=READABLE)
    with pytest.raises(CommandNotFoundError, match="stage 1"):
        (Sandbox(policy).cmd(["sleep", "1000"]) | Sandbox(policy).cmd(["no-such-program-here"])).run()
