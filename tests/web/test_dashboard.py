"""The web dashboard through its ASGI app in this process, on every store: the list (waits
of each kind, filters, paging), the instance page (live values, inbox, children, parent,
history), hostile ids, missing and corrupt instances, and no way to write."""

from __future__ import annotations

import html
import pathlib
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from programs.dashboard_flows import WIDGET, populate, quick, start

from durable import StateStore
from durable._web import create_app, instance_url

HOSTILE_IDS = [
    "<script>alert(1)</script>",
    "quote\"d 'id' & <b>",
    "line\nbreak\ttab",
    "lone \ud800 surrogate",
    "",
    ".",
    "..",
    "a/b?c=d#e%20f",
    "ünïcødé ✓",
]


@pytest.fixture
async def client(store: StateStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as c:
        yield c


async def get(client: httpx.AsyncClient, url: str, status: int = 200) -> str:
    response = await client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def links(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', page)]


def instance_ids(page: str) -> list[str]:
    """The ids in the list's first column, in page order."""
    cells = re.findall(r'<td class="id"><a href="[^"]*">(.*?)</a></td>', page, re.S)
    return [html.unescape(cell) for cell in cells]


async def test_the_list_shows_every_instance_and_what_it_waits_for(
    store: StateStore, client: httpx.AsyncClient
) -> None:
    await populate(store)
    page = await get(client, "/")
    assert instance_ids(page) == store.list_instances()
    assert re.search(r"event approve until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", page)
    assert re.search(r"timer until \d{4}-", page)
    assert "retry of step programs.dashboard_flows:charge (attempt 2) at " in page
    assert "children: 1 of 3 done (mode all)" in page
    for status in ("paused", "failed", "completed"):
        assert f'status-{status}">{status}<' in page
    assert "programs.dashboard_flows:_fanout" in page


async def test_filters_by_status_and_program(store: StateStore, client: httpx.AsyncClient) -> None:
    await populate(store)
    assert instance_ids(await get(client, "/?status=failed")) == ["broken-1"]
    naps = instance_ids(await get(client, "/?program=programs.dashboard_flows:_nap"))
    assert naps == sorted(["nap-1", "fanout-1/1.1.1"])
    both = "/?status=completed&program=programs.dashboard_flows%3A_quick"
    assert instance_ids(await get(client, both)) == ["fanout-1/1.1.2", "quick-1"]
    assert "No instances match" in await get(client, "/?status=cancelled")
    assert "unknown status" in await get(client, "/?status=bogus", 400)


async def test_paging_walks_every_instance_once(
    store: StateStore, client: httpx.AsyncClient
) -> None:
    for n in range(7):
        await start(store, f"p-{n}", quick, WIDGET)
    await start(store, "q-hostile\ud800", quick, WIDGET)
    seen: list[str] = []
    url: str | None = "/?limit=3"
    while url is not None:
        page = await get(client, url)
        seen += instance_ids(page)
        nexts = [link for link in links(page) if "after=" in link and "next" in page]
        url = next((link for link in nexts if link.startswith("/?")), None)
        if url is not None:
            assert "« first page" in await get(client, url)
    shown = [i.replace("\\ud800", "\ud800") for i in seen]
    assert shown == store.list_instances()
    assert len(store.list_instances()) == 8


async def test_the_instance_page_shows_live_values_inbox_and_history(
    store: StateStore, client: httpx.AsyncClient
) -> None:
    await populate(store)
    page = html.unescape(await get(client, instance_url("approval-1")))
    assert "'Ada orders 3 x widget'" in page  # the live variable `note`, typed
    assert re.search(r"<code>note</code></td><td><pre>'Ada orders 3 x widget'</pre></td>"
                     r"<td class=\"type\">str", page)  # fmt: skip
    assert "programs.dashboard_flows:_approval" in page
    assert "dashboard_flows.py:" in page
    assert re.search(r"deadline</dt><dd>\d{4}-", page)
    assert "<code>note</code></td><td>20" in page  # the inbox event and its publication time
    assert "{'from': 'ops'}" in page
    for kind in ("instance.started", "instance.paused", "event.published"):
        assert f"<strong>{kind}</strong>" in page


async def test_each_kind_of_wait_on_the_instance_page(
    store: StateStore, client: httpx.AsyncClient
) -> None:
    await populate(store)
    nap = html.unescape(await get(client, instance_url("nap-1")))
    assert "timer wakes at</dt>" in nap and "<code>doubled</code></td><td><pre>30</pre>" in nap
    billing = html.unescape(await get(client, instance_url("billing-1")))
    assert "step</dt><dd>programs.dashboard_flows:charge" in billing
    assert "failed attempts</dt><dd>1" in billing
    assert "Order(sku='widget', qty=3)" in billing


async def test_a_fan_out_links_children_and_parent(
    store: StateStore, client: httpx.AsyncClient
) -> None:
    await populate(store)
    parent = await get(client, instance_url("fanout-1"))
    children = [link for link in links(parent) if link.startswith("/instances/fanout-1%2F")]
    assert len(children) == 3
    assert "children: 1 of 3 done (mode all)" in parent
    child = await get(client, children[0])
    assert 'id="parent" href="/instances/fanout-1"' in child
    assert "event approve until" in child


async def test_a_failed_instance_shows_its_error(
    store: StateStore, client: httpx.AsyncClient
) -> None:
    await populate(store)
    page = html.unescape(await get(client, instance_url("broken-1")))
    assert 'status-failed">failed<' in page
    assert 'id="failure"' in page and "cannot ship -4 of widget" in page


@pytest.mark.parametrize("instance_id", HOSTILE_IDS)
async def test_hostile_ids_are_shown_as_text_and_linked_safely(
    store: StateStore, client: httpx.AsyncClient, instance_id: str
) -> None:
    await start(store, instance_id, quick, WIDGET)
    listing = await get(client, "/")
    assert "<script>alert" not in listing
    (link,) = [link for link in links(listing) if link.startswith("/instances")]
    assert link.isascii() and "\n" not in link
    page = await get(client, link)
    assert "<script>alert" not in page
    assert 'status-completed">completed<' in page
    shown = re.search(r'<code id="instance-id">(.*?)</code>', page, re.S)
    assert shown is not None
    assert html.unescape(shown[1]) == instance_id.replace("\ud800", "\\ud800")


async def test_a_missing_instance_is_a_404_page(client: httpx.AsyncClient) -> None:
    assert "no instance nope/x in this store" in await get(client, "/instances/nope%2Fx", 404)
    assert "does not exist" in await get(client, "/elsewhere", 404)
    assert "pass ?id=" in await get(client, "/instances", 400)


async def test_a_corrupt_snapshot_shows_an_error_box(
    store: StateStore, client: httpx.AsyncClient
) -> None:
    await start(store, "fine", quick, WIDGET)
    store.save("broken", b'{"not": "a snapshot"}')
    listing = await get(client, "/")
    assert instance_ids(listing) == ["broken", "fine"]
    page = await get(client, instance_url("broken"))
    assert 'class="box error" role="alert"' in page and "broken" in page


async def test_nothing_can_be_written(store: StateStore, client: httpx.AsyncClient) -> None:
    await populate(store)
    before = {i: store.read(i) for i in store.list_instances()}
    for url in ("/", instance_url("approval-1"), "/instances?id=approval-1"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = await client.request(method, url, content=b"{}")
            assert response.status_code == 405, (method, url)
    assert (await client.head("/")).status_code == 200
    assert {i: store.read(i) for i in store.list_instances()} == before


def test_the_command_says_how_to_install_the_extra(tmp_path: pathlib.Path) -> None:
    blocked = "import sys; sys.modules['starlette'] = None; from durable._cli import main; "
    code = blocked + f"sys.exit(main(['--store', {str(tmp_path)!r}, 'dashboard']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "pip install 'durable-resume[web]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_command_serves_the_pages_read_only(server: str) -> None:
    """``durable dashboard`` as a process, over an SQLite file (the browser tests drive it too)."""
    listing = httpx.get(server + "/", timeout=30)
    assert listing.status_code == 200
    assert instance_ids(listing.text)[:3] == ["approval-1", "billing-1", "broken-1"]
    order = httpx.get(server + instance_url("billing-1"), timeout=30).text
    assert "Order(sku=&#39;widget&#39;, qty=3)" in order  # decoded: --import reached the server
    assert httpx.post(server + "/", timeout=30).status_code == 405


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        command = [sys.executable, "-m", "durable", "--store", str(tmp_path)]
        done = subprocess.run(
            [*command, "dashboard", "--port", port], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert done.stderr.startswith(f"durable: error: cannot listen on 127.0.0.1 port {port}")
    assert len(done.stderr.splitlines()) == 1
