"""The original FastAPI usage example, with tasktail's ConnectionManager, through a real app."""
import asyncio
import importlib.util
import json
import os
import socket
import threading
import time
import urllib.request

import pytest

uvicorn = pytest.importorskip("uvicorn") if os.environ.get("CI") != "true" else __import__("uvicorn")
import websockets  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_example(server_url):
    os.environ["TASKTAIL_SERVER"] = server_url
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "fastapi_app.py")
    spec = importlib.util.spec_from_file_location("fastapi_app", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def app_url(server):
    mod = load_example(server.url)
    port = free_port()
    config = uvicorn.Config(mod.app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"127.0.0.1:{port}", mod
    srv.should_exit = True
    thread.join(timeout=10)


def test_original_usage_through_the_bridge(app_url, server):
    addr, mod = app_url

    async def scenario():
        async with websockets.connect(f"ws://{addr}/ws/import-7") as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello"
            status = json.load(urllib.request.urlopen(f"http://{addr}/imports/import-7/status"))
            assert status == {"connected": True, "queued": 0}
            urllib.request.urlopen(urllib.request.Request(f"http://{addr}/imports/import-7", method="POST"))
            frames = []
            async for raw in ws:
                frames.append(json.loads(raw))
            assert (ws.close_code, ws.close_reason) == (1000, "task finished")  # the server's reason, passed on
            return frames

    frames = asyncio.run(scenario())
    assert [f["message"] for f in frames] == ["Processing started", "Imported part 1 of 3", "Imported part 2 of 3",
                                              "Imported part 3 of 3", "Import complete"]
    assert frames[-1]["finished"] is True and frames[-1]["progress"] == 100


def test_queued_for_a_late_viewer(app_url, server):
    addr, mod = app_url
    urllib.request.urlopen(urllib.request.Request(f"http://{addr}/imports/late", method="POST"))
    deadline = time.monotonic() + 10
    while mod.manager.get_queued_message_count("late") < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mod.manager.get_queued_message_count("late") == 5
    assert mod.manager.get_connection_status("late") is False

    async def late():
        async with websockets.connect(f"ws://{addr}/ws/late") as ws:
            return [json.loads(raw) async for raw in ws]

    frames = asyncio.run(late())
    assert [f["type"] for f in frames] == ["hello", "log", "log", "log", "log", "log"]
