"""Deploying new code while instances are paused: resume, safe upgrade, migration, refusal.

Each test "deploys" versions of one module: it writes the source of each version to
``tmp_path/<version>/flows.py`` and executes it under a single module name, so the durable
functions and the pydantic models in their saved state keep the same ``module:qualname``
across versions, as after a real deploy. Instances start under one version and are resumed
under the next. Tests take the ``store`` fixture (memory and disk) and, through anyio, run on
asyncio and on trio.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from durable import (
    DiskStateStore,
    DurableBackend,
    IncompatibleSnapshotError,
    InMemoryStateStore,
    PauseForEventException,
    StateStore,
    check,
)
from durable.testing import capture_events

MANY = {"memory": 100, "disk": 100}  # instances in the deploy scenarios, per store
FEW = 3  # instances in the other tests


# -- module sources, one per deployed version --------------------------------------------------

HEADER = """\
from pydantic import BaseModel, model_validator

from durable import PauseForEventException, SavedFrame, make_durable
"""

CLAIM_V1 = """

class Claim(BaseModel):
    amount: int
"""

REVIEW_V1 = """

async def review(claim_id: int) -> str:
    claim = Claim(amount=claim_id * 10)
    approver = f"agent-{claim_id % 7}"
    raise PauseForEventException("approve")
    return f"claim {claim_id}: {claim.amount} EUR, approved by {approver}"
"""

V1 = HEADER + CLAIM_V1 + REVIEW_V1 + '\nreview = make_durable(review, version="1")\n'

# Only layout changes: a comment, blank lines, a docstring, the other quote style, and the
# function moved lower in the file, below code that was not there before.
V1_COSMETIC = (
    HEADER
    + CLAIM_V1
    + '''

RETRIES = 3  # new code above the durable function moves it lower in the file


def unrelated() -> int:
    return RETRIES


async def review(claim_id: int) -> str:
    """Review one claim: wait for its approval, then report it."""

    # the amount is in euros
    claim = Claim(amount=claim_id * 10)

    approver = f"agent-{claim_id % 7}"  # who approves it
    raise PauseForEventException('approve')

    return f"claim {claim_id}: {claim.amount} EUR, approved by {approver}"


review = make_durable(review, version="1")
'''
)

# Adds code after the pause; the variables live at the pause are the same as in V1.
V1_SAFE_EDIT = (
    HEADER
    + CLAIM_V1
    + """

async def review(claim_id: int) -> str:
    claim = Claim(amount=claim_id * 10)
    approver = f"agent-{claim_id % 7}"
    raise PauseForEventException("approve")
    fee = claim.amount // 10
    return f"claim {claim_id}: {claim.amount} EUR, approved by {approver}, fee {fee}"


review = make_durable(review, version="1")
"""
)

# Version 2 stores amounts in cents in a new model and calls the approver the reviewer. The
# version 1 `Claim` stays in the module so that claims saved by version 1 still load.
V2_MODELS = (
    CLAIM_V1
    + """

class ClaimInCents(BaseModel):
    amount_cents: int
"""
)

# Version 2 changes `Claim` itself (amount -> amount_cents); the model adapts old data.
V2_MODELS_IN_PLACE = """

class Claim(BaseModel):
    amount_cents: int

    @model_validator(mode="before")
    @classmethod
    def from_version_1(cls, data):
        if isinstance(data, dict) and "amount" in data:
            data = {"amount_cents": data.pop("amount") * 100, **data}
        return data


ClaimInCents = Claim
"""

REVIEW_V2 = """

async def review(claim_id: int) -> str:
    if claim_id < 0:
        raise ValueError("claim ids are positive")
    claim = ClaimInCents(amount_cents=claim_id * 1000)
    reviewer = f"agent-{claim_id % 7}"
    raise PauseForEventException("approve")
    fee = claim.amount_cents // 1000
    return f"claim {claim_id}: {claim.amount_cents} cents, reviewed by {reviewer}, fee {fee}"
"""

MIGRATION_V2 = """

@review.migration(from_version="1")
def approver_to_reviewer(frame: SavedFrame) -> SavedFrame:
    frame.locals["reviewer"] = frame.locals.pop("approver")
    claim = frame.locals["claim"]
    if not isinstance(claim, ClaimInCents):
        frame.locals["claim"] = ClaimInCents(amount_cents=claim.amount * 100)
    return frame
"""


def flows_v2(*, version: str = "2", migration: str = MIGRATION_V2, models: str = V2_MODELS) -> str:
    """The source of a version 2 module: its models, `review`, and optionally a migration."""
    made = f'\nreview = make_durable(review, version="{version}")\n'
    return HEADER + models + REVIEW_V2 + made + migration


def v1_result(claim_id: int) -> str:
    return f"claim {claim_id}: {claim_id * 10} EUR, approved by agent-{claim_id % 7}"


def v2_result(claim_id: int) -> str:
    cents = claim_id * 1000
    return f"claim {claim_id}: {cents} cents, reviewed by agent-{claim_id % 7}, fee {claim_id}"


# Named pauses (`point=`): version 1 has one approval.
NAMED_V1 = (
    HEADER
    + """

async def review(claim_id: int) -> str:
    approvals = [f"start {claim_id}"]
    raise PauseForEventException("approve", point="approval")
    approvals.append("approved")
    return " / ".join(approvals)


review = make_durable(review, version="1")
"""
)

# A first-line approval on the same event added before the named one: had the old pause no
# name, its default name would now belong to the new pause.
NAMED_PAUSE_ADDED_BEFORE = (
    HEADER
    + """

async def review(claim_id: int) -> str:
    approvals = [f"start {claim_id}"]
    raise PauseForEventException("approve")
    approvals.append("first line")
    raise PauseForEventException("approve", point="approval")
    approvals.append("approved")
    return " / ".join(approvals)


review = make_durable(review, version="1")
"""
)

# The same two versions without names: the old pause's default name, "pause:'approve'",
# now belongs to the new first-line pause.
UNNAMED_V1 = NAMED_V1.replace(', point="approval"', "")
UNNAMED_PAUSE_ADDED_BEFORE = NAMED_PAUSE_ADDED_BEFORE.replace(', point="approval"', "")

# Version 2 requires a director's sign-off after the approval; the migration moves instances
# approved under version 1 past it (they are grandfathered in).
NAMED_V2_DIRECTOR = (
    HEADER
    + """

async def review(claim_id: int) -> str:
    approvals = [f"start {claim_id}"]
    raise PauseForEventException("approve", point="approval")
    approvals.append("approved")
    raise PauseForEventException("sign", point="director")
    approvals.append("signed")
    return " / ".join(approvals)


review = make_durable(review, version="2")


@review.migration(from_version="1")
def grandfather(frame: SavedFrame) -> SavedFrame:
    if frame.point == "approval":
        frame.locals["approvals"].append("approved")
        frame.point = "director"
    return frame
"""
)


# -- deploying --------------------------------------------------------------------------------


class Deployer:
    """Executes versions of one module under one name, as successive deploys would."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.name = f"flows_{uuid.uuid4().hex}"

    def __call__(self, version: str, source: str) -> types.ModuleType:
        """Deploy `source` as the module's current code (written to ``<version>/flows.py``)."""
        path = self.root / version / "flows.py"
        if not path.exists():
            path.parent.mkdir(parents=True)
            path.write_text(source)
        assert path.read_text() == source, f"{version} was deployed with other code"
        spec = importlib.util.spec_from_file_location(self.name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.name] = module
        spec.loader.exec_module(module)
        return module


@pytest.fixture
def deploy(tmp_path: pathlib.Path) -> Iterator[Deployer]:
    deployer = Deployer(tmp_path / "src")
    yield deployer
    sys.modules.pop(deployer.name, None)


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> StateStore:
    if request.param == "memory":
        return InMemoryStateStore()
    return DiskStateStore(tmp_path / "store")


def count_for(store: StateStore) -> int:
    return MANY["memory" if isinstance(store, InMemoryStateStore) else "disk"]


# -- helpers ----------------------------------------------------------------------------------


def iid(claim_id: int) -> str:
    return f"claim-{claim_id}"


async def start_paused(module: types.ModuleType, store: StateStore, ids: range) -> None:
    """Start one instance of ``module.review`` per claim id; each pauses on "approve"."""
    for claim_id in ids:
        with pytest.raises(PauseForEventException) as info:
            await module.review(
                claim_id, orchestration_backend=DurableBackend(store), instance_id=iid(claim_id)
            )
        assert info.value.event == "approve"


def publish(store: StateStore, ids: range, event: str = "approve") -> None:
    backend = DurableBackend(store)
    for claim_id in ids:
        backend.publish_event(iid(claim_id), event)


async def resume(module: types.ModuleType, store: StateStore, claim_id: int) -> Any:
    """Call ``module.review`` again for an instance; the arguments are ignored on resume."""
    return await module.review(
        -1, orchestration_backend=DurableBackend(store), instance_id=iid(claim_id)
    )


async def predictions(store: StateStore) -> dict[str, Any]:
    return {r.instance_id: r for r in await check(DurableBackend(store))}


def stored(store: StateStore, ids: range) -> dict[str, Any]:
    """Everything the store holds for the instances: snapshot bytes, inbox and history."""
    return {
        iid(c): (store.load(iid(c)), store.list_events(iid(c)), store.read_history(iid(c)))
        for c in ids
    }


def warnings_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("level") == "warning"]


# -- 1. deploy with a migration ---------------------------------------------------------------


async def deploy_and_migrate(deploy: Deployer, store: StateStore, v2_source: str) -> None:
    """Pause instances under V1, deploy `v2_source`, check, publish, resume them all."""
    ids = range(1, count_for(store) + 1)
    v1 = deploy("v1", V1)
    await start_paused(v1, store, ids)
    v2 = deploy("v2", v2_source)
    publish(store, ids)
    before = stored(store, ids)

    reports = await predictions(store)
    assert {r.action for r in reports.values()} == {"migrate"}, next(iter(reports.values()))
    assert len(reports) == len(ids)
    assert {r.details for r in reports.values()} == {(f"{v2.review.name}: 1->2",)}
    assert stored(store, ids) == before  # check wrote nothing

    with capture_events() as events:
        results = {c: await resume(v2, store, c) for c in ids}
    assert results == {c: v2_result(c) for c in ids}

    applied = [e for e in events if e["event"] == "migration.applied"]
    assert sorted(e["instance_id"] for e in applied) == sorted(iid(c) for c in ids)
    assert {(e["level"], e["from_version"], e["to_version"]) for e in applied} == {
        ("warning", "1", "2")
    }
    assert {e["from_fingerprint"] for e in applied} == {v1.review.fingerprint}
    assert {e["to_fingerprint"] for e in applied} == {v2.review.fingerprint}
    assert warnings_in(events) == applied

    backend = DurableBackend(store)
    for claim_id in ids:
        history = backend.read_history(iid(claim_id))
        kinds = [entry["kind"] for entry in history]
        assert kinds.count("migration.applied") == 1, kinds
        assert kinds.index("migration.applied") < kinds.index("instance.completed")
        entry = history[kinds.index("migration.applied")]
        assert (entry["from_version"], entry["to_version"], entry["steps"]) == ("1", "2", ["1->2"])
        # finished: calling again answers from the saved result without running code
        assert await resume(v2, store, claim_id) == v2_result(claim_id)
    assert {r.action for r in (await predictions(store)).values()} == {"finished"}


async def test_deploy_migrates_every_paused_instance(deploy: Deployer, store: StateStore) -> None:
    """Instances paused under version 1 resume under version 2 through its migration."""
    await deploy_and_migrate(deploy, store, flows_v2())


async def test_deploy_with_model_field_renamed_in_place(
    deploy: Deployer, store: StateStore
) -> None:
    """A model whose field was renamed adapts saved data itself with a before-validator."""
    await deploy_and_migrate(deploy, store, flows_v2(models=V2_MODELS_IN_PLACE))


AMOUNT_TYPE = (
    HEADER
    + """

class Claim(BaseModel):
    amount: int


async def amount_type(claim_id: int) -> str:
    claim = Claim(amount=claim_id)
    raise PauseForEventException("approve")
    return type(claim.amount).__name__


amount_type = make_durable(amount_type)
"""
)


async def test_changed_field_type_is_converted_by_validation(
    deploy: Deployer, store: StateStore
) -> None:
    """A model field whose type changed holds the type the model validated it to."""
    v1 = deploy("v1", AMOUNT_TYPE)
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await v1.amount_type(1, orchestration_backend=backend, instance_id="c")
    backend.publish_event("c", "approve")
    v2 = deploy("v2", "from decimal import Decimal\n" + AMOUNT_TYPE.replace("int", "Decimal"))
    assert await v2.amount_type(1, orchestration_backend=backend, instance_id="c") == "Decimal"


# -- 2. the same deploy without the migration ---------------------------------------------------


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        ("2", "no migration leads from version '1' to '2'"),
        ("1", "(missing: ['reviewer'], unexpected: ['approver'])"),
    ],
    ids=["new-version-without-migration", "same-version"],
)
async def test_deploy_without_migration_refuses_and_old_code_finishes(
    deploy: Deployer, store: StateStore, version: str, problem: str
) -> None:
    """Without a migration every instance is refused, untouched, and the old code finishes it."""
    ids = range(1, count_for(store) + 1)
    v1 = deploy("v1", V1)
    await start_paused(v1, store, ids)
    publish(store, ids)
    before = stored(store, ids)
    v2 = deploy("v2", flows_v2(version=version, migration=""))

    reports = await predictions(store)
    assert sorted(reports) == sorted(iid(c) for c in ids)
    for instance_id, r in reports.items():
        assert (r.action, r.status) == ("refuse", "paused")
        assert f"instance {instance_id!r}" in r.reason
        assert problem in r.reason, r.reason

    with capture_events() as events:
        for claim_id in ids:
            with pytest.raises(IncompatibleSnapshotError) as info:
                await resume(v2, store, claim_id)
            message = str(info.value)
            assert f"instance {iid(claim_id)!r}" in message
            assert f"saved by version '1' (fingerprint {v1.review.fingerprint})" in message
            assert f"now version {version!r} (fingerprint {v2.review.fingerprint})" in message
            assert problem in message
            assert "The saved state is unchanged" in message
    assert stored(store, ids) == before  # snapshots byte for byte, inboxes, histories
    assert warnings_in(events) == []

    v1_again = deploy("v1", V1)
    assert [await resume(v1_again, store, c) for c in ids] == [v1_result(c) for c in ids]
    assert all(store.list_events(iid(c)) == [] for c in ids)


async def test_incompatible_code_is_refused_before_the_event_arrives(
    deploy: Deployer, store: StateStore
) -> None:
    """Code that can no longer resume a paused instance is refused at the first call, while
    the instance still waits: not "still paused" until the event comes weeks later."""
    ids = range(1, 3)
    await start_paused(deploy("v1", V1), store, ids)
    before = stored(store, ids)
    v2 = deploy("v2", flows_v2(version="2", migration=""))
    for claim_id in ids:
        with pytest.raises(IncompatibleSnapshotError) as info:
            await resume(v2, store, claim_id)
        assert f"instance {iid(claim_id)!r}" in str(info.value)
        assert "no migration leads from version '1' to '2'" in str(info.value)
    assert stored(store, ids) == before


# -- 3. cosmetic edits --------------------------------------------------------------------------


async def test_cosmetic_edits_resume_silently(deploy: Deployer, store: StateStore) -> None:
    """Comments, blank lines, a docstring and moving the function keep the same fingerprint."""
    ids = range(FEW)
    v1 = deploy("v1", V1)
    await start_paused(v1, store, ids)
    publish(store, ids)
    edited = deploy("v1-edited", V1_COSMETIC)
    assert edited.review.fingerprint == v1.review.fingerprint
    assert edited.review.code_blocks[1].lineno > v1.review.code_blocks[1].lineno + 5
    assert [b.name for b in edited.review.code_blocks] == [b.name for b in v1.review.code_blocks]

    assert {r.action for r in (await predictions(store)).values()} == {"resume"}
    with capture_events() as events:
        assert [await resume(edited, store, c) for c in ids] == [v1_result(c) for c in ids]
    assert warnings_in(events) == []
    assert len([e for e in events if e["event"] == "instance.resumed"]) == FEW


# -- 4. safe automatic upgrade ------------------------------------------------------------------


async def test_code_added_after_the_pause_upgrades_with_a_warning(
    deploy: Deployer, store: StateStore
) -> None:
    """New code after the pause, with the same live variables there, resumes automatically."""
    ids = range(FEW)
    v1 = deploy("v1", V1)
    await start_paused(v1, store, ids)
    publish(store, ids)
    edited = deploy("v1-edited", V1_SAFE_EDIT)
    assert edited.review.fingerprint != v1.review.fingerprint

    reports = await predictions(store)
    details = (f"{edited.review.name}: upgraded",)
    assert {(r.action, r.details) for r in reports.values()} == {("upgrade", details)}
    with capture_events() as events:
        results = [await resume(edited, store, c) for c in ids]
    assert results == [f"{v1_result(c)}, fee {c}" for c in ids]
    upgraded = warnings_in(events)
    assert [e["event"] for e in upgraded] == ["snapshot.upgraded"] * FEW
    assert [e["instance_id"] for e in upgraded] == [iid(c) for c in ids]
    assert {(e["from_fingerprint"], e["to_fingerprint"]) for e in upgraded} == {
        (v1.review.fingerprint, edited.review.fingerprint)
    }
    history = DurableBackend(store).read_history(iid(0))
    assert [entry["kind"] for entry in history].count("snapshot.upgraded") == 1


# -- 5. named points ----------------------------------------------------------------------------


async def test_named_point_survives_a_pause_added_before_it(
    deploy: Deployer, store: StateStore
) -> None:
    """A pause named with point= is found again after another pause is added before it."""
    ids = range(FEW)
    v1 = deploy("v1", NAMED_V1)
    await start_paused(v1, store, ids)
    publish(store, ids)
    edited = deploy("v1-edited", NAMED_PAUSE_ADDED_BEFORE)
    assert [b.name for b in v1.review.code_blocks] == ["start", "approval"]
    assert edited.review.code_blocks[2].name == "approval"

    assert {r.action for r in (await predictions(store)).values()} == {"upgrade"}
    with capture_events() as events:
        results = [await resume(edited, store, c) for c in ids]
    assert results == [f"start {c} / approved" for c in ids]  # not " / first line"
    assert [e["event"] for e in warnings_in(events)] == ["snapshot.upgraded"] * FEW


async def test_unnamed_pause_shifted_by_a_new_one_is_refused(
    deploy: Deployer, store: StateStore
) -> None:
    """An unnamed pause that a new pause on the same event would shadow is refused, not
    resumed at the new pause, and the state is left unchanged."""
    ids = range(FEW)
    v1 = deploy("v1", UNNAMED_V1)
    await start_paused(v1, store, ids)
    publish(store, ids)
    before = stored(store, ids)
    edited = deploy("v1-edited", UNNAMED_PAUSE_ADDED_BEFORE)

    reports = await predictions(store)
    assert {r.action for r in reports.values()} == {"refuse"}
    assert all("point=" in r.reason for r in reports.values())
    for c in ids:
        with pytest.raises(IncompatibleSnapshotError, match="cannot be told apart"):
            await resume(edited, store, c)
    assert stored(store, ids) == before


async def test_migration_moves_the_resume_point(deploy: Deployer, store: StateStore) -> None:
    """A migration that sets frame.point resumes the instance after another pause."""
    ids = range(FEW)
    v1 = deploy("v1", NAMED_V1)
    await start_paused(v1, store, ids)
    publish(store, ids)
    v2 = deploy("v2", NAMED_V2_DIRECTOR)

    reports = await predictions(store)
    details = (f"{v2.review.name}: 1->2",)
    assert {(r.action, r.details) for r in reports.values()} == {("migrate", details)}
    with capture_events() as events:
        results = [await resume(v2, store, c) for c in ids]
    assert results == [f"start {c} / approved / signed" for c in ids]  # no "sign" wait
    applied = [e for e in warnings_in(events) if e["event"] == "migration.applied"]
    director = next(b.id for b in v2.review.code_blocks if b.name == "director")
    assert [e["point"] for e in applied] == [director] * FEW

    # a claim started under version 2 still waits for the director
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await v2.review(7, orchestration_backend=backend, instance_id="new")
    backend.publish_event("new", "approve")
    with pytest.raises(PauseForEventException) as info:
        await v2.review(7, orchestration_backend=backend, instance_id="new")
    assert info.value.event == "sign"


# -- 6. refusals --------------------------------------------------------------------------------

PAUSE_REMOVED = (
    HEADER
    + CLAIM_V1
    + """

async def review(claim_id: int) -> str:
    claim = Claim(amount=claim_id * 10)
    approver = f"agent-{claim_id % 7}"
    return f"claim {claim_id}: {claim.amount} EUR, approved by {approver}"


review = make_durable(review, version="1")
"""
)

NEW_LIVE_VARIABLE = (
    HEADER
    + CLAIM_V1
    + """

async def review(claim_id: int) -> str:
    claim = Claim(amount=claim_id * 10)
    approver = f"agent-{claim_id % 7}"
    priority = "high" if claim.amount > 100 else "normal"
    raise PauseForEventException("approve")
    return f"claim {claim_id}: {claim.amount} EUR, approved by {approver} ({priority})"


review = make_durable(review, version="1")
"""
)

MIGRATION_RAISES = flows_v2(
    migration="""

@review.migration(from_version="1")
def approver_to_reviewer(frame: SavedFrame) -> SavedFrame:
    raise ValueError(f"cannot convert {frame.locals['claim']!r}")
"""
)

MODEL_FIELD_RENAMED = (
    HEADER
    + """

class Claim(BaseModel):
    amount_cents: int
"""
    + REVIEW_V1.replace("amount=claim_id * 10", "amount_cents=claim_id * 1000").replace(
        "claim.amount} EUR", "claim.amount_cents} cents"
    )
    + '\nreview = make_durable(review, version="1")\n'
)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (PAUSE_REMOVED, "the resume point \"pause:'approve'\" no longer exists"),
        (NEW_LIVE_VARIABLE, "(missing: ['priority'], unexpected: [])"),
        (
            MIGRATION_RAISES,
            "the migration from version '1' to '2' raised ValueError: cannot convert Claim",
        ),
        (MODEL_FIELD_RENAMED, "the saved value of 'claim' no longer loads"),
    ],
    ids=["pause-removed", "new-live-variable", "migration-raises", "model-field-renamed"],
)
async def test_incompatible_edits_are_refused_without_changing_state(
    deploy: Deployer, store: StateStore, source: str, problem: str
) -> None:
    """An edit the runtime cannot map is refused; the state stays as the old code left it."""
    ids = range(FEW)
    v1 = deploy("v1", V1)
    await start_paused(v1, store, ids)
    publish(store, ids)
    before = stored(store, ids)
    edited = deploy("v2", source)

    reports = await predictions(store)
    assert {r.action for r in reports.values()} == {"refuse"}
    assert all(problem in r.reason for r in reports.values()), reports
    for claim_id in ids:
        with pytest.raises(IncompatibleSnapshotError, match=f"instance {iid(claim_id)!r}") as e:
            await resume(edited, store, claim_id)
        assert problem in str(e.value)
    assert stored(store, ids) == before

    v1_again = deploy("v1", V1)
    assert [await resume(v1_again, store, c) for c in ids] == [v1_result(c) for c in ids]
