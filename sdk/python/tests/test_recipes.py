"""The user guide's Celery and Django recipes, run for real (Celery eagerly, without a broker)."""
import importlib.util
import os

import pytest

from tasktail import Client


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), "..", "examples", path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def need(module):
    if os.environ.get("CI") == "true":
        return __import__(module)  # .ci/run installs it: missing is a failure
    return pytest.importorskip(module)


def test_celery_task_reports_progress(server, monkeypatch):
    need("celery")
    monkeypatch.setenv("TASKTAIL_SERVER", server.url)
    mod = load("celery_task", "celery_task.py")
    mod.app.conf.task_always_eager = True
    task_id = mod.import_rows.delay(list(range(250))).get()
    lines = [l.split(" ", 2)[2] for l in Client(server.url).logs(task_id).splitlines()]
    assert lines == ["importing 250 rows", "100 rows imported", "200 rows imported", "250 rows imported", "import complete"]
    st = Client(server.url).status(task_id)
    assert st["finished"] is True and st["progress"] == 100
    mod.publisher.close()


def test_django_command_logs_to_tasktail(server, monkeypatch):
    need("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(INSTALLED_APPS=[], LOGGING_CONFIG=None)
    import django
    from django.core.management import call_command

    django.setup()
    monkeypatch.setenv("TASKTAIL_SERVER", server.url)
    mod = load("django_command", "django_command.py")
    call_command(mod.Command(), "import-2026-12-01")
    c = Client(server.url)
    assert [l.split(" ", 2)[1:] for l in c.logs("import-2026-12-01").splitlines()] == [
        ["info", "batch 1 of 3 imported"], ["info", "batch 2 of 3 imported"], ["info", "batch 3 of 3 imported"],
        ["success", "import complete"]]
    assert c.status("import-2026-12-01")["finished"] is True
