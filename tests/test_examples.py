"""The examples, run as scripts in fresh processes, as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from durable import SQLiteStateStore

ROOT = Path(__file__).resolve().parent.parent
GREET = ROOT / "examples" / "greet.py"
EXPENSE = ROOT / "examples" / "expense.py"


def run(script: Path, *args: str, cwd: Path = ROOT, code: int = 0) -> list[str]:
    """Run `script` in a new interpreter; return its output lines."""
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("flags", [[], ["--trio"]], ids=["asyncio", "trio"])
def test_greet(flags: list[str], tmp_path: Path) -> None:
    for runs in (1, 2):  # each run a new instance in the same SQLite file
        assert run(GREET, *flags, cwd=tmp_path) == [
            "waiting for permission to greet",
            "paused for event allow",
            "hello Ada",
        ]
        store = SQLiteStateStore(tmp_path / "greet.db")
        headers = [store.read_header(i) for i in store.list_instances()]
        store.close()
        assert [h.status for h in headers if h is not None] == ["completed"] * runs


def expense(tmp_path: Path, *args: str, code: int = 0) -> list[str]:
    return run(EXPENSE, *args, cwd=tmp_path, code=code)


def ledger(tmp_path: Path) -> list[str]:
    return (tmp_path / "expense-state" / "ledger.txt").read_text(encoding="utf-8").splitlines()


def test_expense_approved_across_processes(tmp_path: Path) -> None:
    assert expense(tmp_path, "submit", "EXP-1", "Team dinner", "182.50") == [
        "EXP-1 recorded: Team dinner, 182.50 for Ada",
        "EXP-1 submitted, waiting for a manager",
    ]
    # Resuming before the decision pauses again, without recording the claim again.
    assert expense(tmp_path, "resume", "EXP-1") == ["EXP-1 submitted, waiting for a manager"]
    assert expense(tmp_path, "approve", "EXP-1") == ["EXP-1 approved by Grace"]
    paid = ["EXP-1 approved by Grace: paying 182.50 to Ada"]
    assert expense(tmp_path, "resume", "EXP-1") == paid
    assert expense(tmp_path, "resume", "EXP-1") == paid  # finished: the saved result
    assert ledger(tmp_path) == [
        "EXP-1 submitted by Ada: Team dinner, 182.50",
        "EXP-1 paid 182.50 to Ada",
    ]


def test_expense_rejected(tmp_path: Path) -> None:
    expense(tmp_path, "submit", "EXP-2", "Taxi", "23.10", "--employee", "Alan")
    assert expense(tmp_path, "reject", "EXP-2", "--by", "Barbara") == ["EXP-2 rejected by Barbara"]
    expense(tmp_path, "approve", "EXP-2", code=1)  # already decided
    assert expense(tmp_path, "resume", "EXP-2") == ["EXP-2 rejected by Barbara"]
    assert ledger(tmp_path) == ["EXP-2 submitted by Alan: Taxi, 23.10", "EXP-2 rejected"]


def test_expense_decision_published_before_the_pause(tmp_path: Path) -> None:
    assert expense(tmp_path, "approve", "EXP-3") == ["EXP-3 approved by Grace"]
    assert expense(tmp_path, "submit", "EXP-3", "Train", "64.00") == [
        "EXP-3 recorded: Train, 64.00 for Ada",
        "EXP-3 approved by Grace: paying 64.00 to Ada",
    ]
    assert ledger(tmp_path) == [
        "EXP-3 submitted by Ada: Train, 64.00",
        "EXP-3 paid 64.00 to Ada",
    ]


def test_expense_resume_unknown_claim(tmp_path: Path) -> None:
    expense(tmp_path, "resume", "EXP-404", code=1)


def test_orders_walkthrough_of_the_readme(tmp_path: Path) -> None:
    """The README's "Operating durable": a failed order, the code fixed as the README shows,
    a value edited, the retry completing on the fixed code."""
    examples = tmp_path / "examples"
    examples.mkdir()
    script = examples / "orders.py"
    script.write_text((ROOT / "examples" / "orders.py").read_text())
    assert run(script, "place", "ORD-7", "150", cwd=tmp_path) == [
        "ORD-7 failed: cannot charge 150: the limit is 100"
    ]
    readme = (ROOT / "README.md").read_text()
    fixed = readme.split("`_charge` becomes:\n\n```python\n", 1)[1].split("```", 1)[0]
    source = script.read_text()
    start = source.index("async def _charge(")
    end = source.index("\n\n\n", start)
    script.write_text(source[:start] + fixed.rstrip("\n") + source[end:])
    env = {**os.environ, "PYTHONPATH": str(examples)}
    durable = [sys.executable, "-m", "durable", "--store", "orders-state", "--import", "orders"]
    steps = [
        ["edit", "ORD-7", "--frame", "1", "--set", "amount=135", "--why", "discount"],
        ["retry", "ORD-7", "--run"],
    ]
    for step in steps:
        done = subprocess.run(
            [*durable, *step], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    assert "completed with 'ORD-7: 1 item(s) held for ORD-7, charged 100 + 35'" in done.stdout
