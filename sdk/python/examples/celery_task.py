# A Celery task that reports its progress to tasktail. Viewers follow it at
# /tasks/import-<celery task id>. (tests/test_recipes.py runs it.)
from celery import Celery

from tasktail import Publisher

app = Celery("imports")  # your broker settings here
publisher = Publisher()  # TASKTAIL_SERVER and TASKTAIL_KEY; one per worker process


@app.task(bind=True)
def import_rows(self, rows):
    task_id = f"import-{self.request.id}"
    publisher.log(task_id, "info", f"importing {len(rows)} rows", progress=0)
    for i, row in enumerate(rows, 1):
        ...  # the work
        if i % 100 == 0 or i == len(rows):
            publisher.log(task_id, "info", f"{i} rows imported", progress=100 * i / len(rows))
    publisher.log(task_id, "success", "import complete", progress=100, finished=True)
    publisher.flush(timeout=10)  # before the worker takes the next task
    return task_id
