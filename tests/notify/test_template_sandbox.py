"""Operator templates run in Jinja's immutable sandbox: whoever can write ``templates_dir``
changes the wording of mails, never runs Python in the daemon. check-config refuses a
template that reaches for internals, in any branch, naming its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from outagewatch.cli.main import main
from outagewatch.notify.template_check import checked_templates, template_problems
from tests.notify.test_templates import DETECTED, config_with

ESCAPE = "{{ cycler.__init__.__globals__.os.getpid() }}"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    found = tmp_path / "templates"
    found.mkdir()
    return found


def test_the_escape_of_the_issue_is_refused_naming_file_and_line(
    templates: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (templates / "detected.txt.j2").write_text(DETECTED + ESCAPE + "\n")
    assert main(["check-config", "-c", str(config_with(templates, tmp_path))]) == 2
    err = capsys.readouterr().err
    assert f"templates_dir: {templates / 'detected.txt.j2'}:6: reaches for '__init__'" in err


@pytest.mark.parametrize(
    "text",
    [
        "{% if false %}{{ platform.__class__.__mro__ }}{% endif %}",
        "{% if false %}{{ platform['__class__'] }}{% endif %}",
        "{% if false %}{{ platform|attr('__class__') }}{% endif %}",
        "{% if false %}{{ platform.mro() }}{% endif %}",
    ],
    ids=["attribute", "item", "attr-filter", "mro"],
)
def test_internals_in_a_branch_the_samples_never_take_are_refused(
    templates: Path, text: str
) -> None:
    (templates / "update.txt.j2").write_text(text + "\n")
    (problem,) = template_problems(templates)
    assert f"{templates / 'update.txt.j2'}:1: reaches for" in problem


def test_what_is_built_at_run_time_is_stopped_by_the_sandbox(templates: Path) -> None:
    # Not visible to the scan ("__cl" ~ "ass__"): the sandbox refuses it when it runs.
    (templates / "detected.txt.j2").write_text("{{ platform|attr('__cl' ~ 'ass__') }}\n")
    (problem,) = template_problems(templates)
    assert "detected.txt.j2:1:" in problem and "unsafe" in problem


def test_the_environment_given_to_the_daemon_is_the_sandbox(templates: Path) -> None:
    (templates / "detected.txt.j2").write_text(DETECTED)
    environment, problems = checked_templates(templates)
    assert problems == [] and environment is not None
    with pytest.raises(Exception, match="unsafe"):
        environment.from_string(ESCAPE).render(cycler=environment.globals["cycler"])
    with pytest.raises(Exception, match=r"immutable|unsafe"):
        environment.from_string("{{ names.append('x') }}").render(names=[])
