# The ConnectionManager usage FastAPI backends have, unchanged but for the import: the
# hand-rolled class becomes tasktail's. (tests/test_manager.py runs it.)
import asyncio

from fastapi import BackgroundTasks, FastAPI, WebSocket, WebSocketDisconnect

from tasktail import ConnectionManager  # was: from .connection_manager import ConnectionManager

app = FastAPI()
manager = ConnectionManager()


@app.websocket("/ws/{task_id}")
async def websocket_endpoint(websocket: WebSocket, task_id: str):
    await manager.connect(websocket, task_id)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        manager.disconnect(task_id)


async def process_import(task_id: str):
    await manager.send_log(task_id, "info", "Processing started", progress=10)
    for part in range(1, 4):
        await asyncio.sleep(0.01)
        await manager.send_log(task_id, "info", f"Imported part {part} of 3", progress=10 + part * 30)
    await manager.send_log(task_id, "success", "Import complete", progress=100, finished=True)


@app.post("/imports/{task_id}")
async def start_import(task_id: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(process_import, task_id)
    return {"task_id": task_id}


@app.get("/imports/{task_id}/status")
def import_status(task_id: str):
    return {
        "connected": manager.get_connection_status(task_id),
        "queued": manager.get_queued_message_count(task_id),
    }
