"""dry_run: the change list (A/M/D) of a copy-on-write run, and the real tree untouched."""

from conftest import READABLE
from sandlock import Policy, Sandbox


def test_readme_dry_run_lists_changes_and_discards_them(workspaces, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "kept.txt").write_text("old\n")
    (work / "gone.txt").write_text("bye\n")
    policy = Policy(fs_writable=[str(work)], workdir=str(work), fs_readable=READABLE)
    result = Sandbox(policy).dry_run(["sh", "-c", "echo new > kept.txt; rm gone.txt; echo hi > added.txt"])
    assert result.success, result.stderr
    assert sorted((c.kind, c.path) for c in result.changes) == [("A", "added.txt"), ("D", "gone.txt"), ("M", "kept.txt")]
    # Nothing reached the real tree.
    assert sorted(p.name for p in work.iterdir()) == ["gone.txt", "kept.txt"]
    assert (work / "kept.txt").read_text() == "old\n"


def test_run_with_workdir_commits_on_success(workspaces, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    policy = Policy(fs_writable=[str(work)], workdir=str(work), fs_readable=READABLE, on_exit="commit")
    result = Sandbox(policy).run(["sh", "-c", "echo hi > made.txt"])
    assert result.success
    assert result.details["workspace"]["outcome"] == "committed"
    assert (work / "made.txt").read_text() == "hi\n"
