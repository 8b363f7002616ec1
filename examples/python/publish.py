#!/usr/bin/env python3
"""Publish a task's progress to tasktail with the standard library only.

    TASKTAIL_SERVER=http://127.0.0.1:8080 python3 publish.py import-42

Copy `publish` into your job (FastAPI background task, Celery task, Django command):
it is the whole client.
"""
import json
import os
import sys
import urllib.error
import urllib.request

SERVER = os.environ.get("TASKTAIL_SERVER", "http://127.0.0.1:8080")
KEY = os.environ.get("TASKTAIL_KEY")  # a publish key, when the server requires one


def publish(task_id, message, level="info", progress=0, finished=False):
    """Publish one log message; returns the server's answer, e.g. {"seq": 3, "queued": false}."""
    body = json.dumps({"level": level, "message": message, "progress": progress, "finished": finished})
    req = urllib.request.Request(
        f"{SERVER}/v1/tasks/{task_id}/logs",
        data=body.encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {KEY}"} if KEY else {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:  # the API explains itself: {"error": {"code", "message"}}
        raise RuntimeError(f"tasktail: {e.code} {e.read().decode()}") from None


def main():
    task_id = sys.argv[1] if len(sys.argv) > 1 else "python-demo"
    rows = 5
    for i in range(1, rows + 1):
        publish(task_id, f"imported rows {(i - 1) * 100 + 1}-{i * 100}", progress=100 * i / rows)
    answer = publish(task_id, "import complete", level="success", progress=100, finished=True)
    print(f"published {answer['seq']} messages to {task_id}")


if __name__ == "__main__":
    main()
