"""Every command the README shows works as written from a fresh clone after the Quick start:
nothing assumes an activated venv or a package that is not published."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

# How a command may start: the Quick start's venv by its path, or a tool that needs no venv.
WORKS_WITHOUT_ACTIVATION = (
    ".venv/bin/",
    "python3 -m venv ",
    "cd ",
    "git ",
    "export ",
    "bash .ci/run",
    "uv ",
    "poetry ",
)

# Inline code that reads as a command run from an activated venv, or from the package index.
ACTIVATED = re.compile(r"^(python|pip|pytest|durable|ruff|mypy|lint-imports)\s")


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """The fenced code blocks of `text`: (language, lines)."""
    blocks: list[tuple[str, list[str]]] = []
    lines: list[str] | None = None
    language = ""
    for line in text.splitlines():
        if line.startswith("```"):
            if lines is None:
                language, lines = line[3:].strip(), []
            else:
                blocks.append((language, lines))
                lines = None
        elif lines is not None:
            lines.append(line)
    return blocks


def commands(text: str) -> list[str]:
    """Each shell command of the README's ```sh and ```text blocks: the lines after a `$ `
    prompt, or every line of a ```sh block that shows no prompt at all."""
    found: list[str] = []
    for language, lines in _blocks(text):
        if language not in ("sh", "text"):
            continue
        prompted = [line[2:] for line in lines if line.startswith("$ ")]
        if prompted or language == "text":
            found += prompted
        else:
            found += [line for line in lines if line.strip() and not line.startswith("#")]
    return found


def _parts(command: str) -> list[str]:
    """The simple commands of a `&&` chain."""
    return [part.strip() for part in command.split("&&")]


def test_the_readme_shows_commands() -> None:
    found = commands(README.read_text(encoding="utf-8"))
    assert any(c.startswith(".venv/bin/durable ") for c in found)
    assert any(c.startswith(".venv/bin/python examples/expense.py ") for c in found)


@pytest.mark.parametrize("command", commands(README.read_text(encoding="utf-8")))
def test_command_works_without_an_activated_venv(command: str) -> None:
    for part in _parts(command):
        assert part.startswith(WORKS_WITHOUT_ACTIVATION), part
        # durable-resume is not published: pip installs it from the clone (`-e .`).
        assert not ("pip install" in part and "durable-resume" in part), part


def test_inline_commands_work_without_an_activated_venv() -> None:
    """Commands quoted in the prose (`...`) follow the same rule."""
    text = README.read_text(encoding="utf-8")
    prose = "\n".join(
        line for line in re.sub(r"^```.*?^```", "", text, flags=re.S | re.M).splitlines()
    )
    spans = re.findall(r"`([^`\n]+)`", prose)
    bad = [
        span
        for span in spans
        if ACTIVATED.match(span) or ("pip install" in span and "durable-resume" in span)
    ]
    assert bad == []


def test_the_checks_catch_an_activated_venv() -> None:
    """The extraction finds prompted commands and bare sh lines alike."""
    sample = "```sh\n$ python x.py\nout\n$ durable list\n```\n```sh\npip install a\n```\n"
    assert commands(sample) == ["python x.py", "durable list", "pip install a"]
    assert not any(c.startswith(WORKS_WITHOUT_ACTIVATION) for c in commands(sample))
