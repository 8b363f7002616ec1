# A Django management command that logs to tasktail: put it in
# yourapp/management/commands/import_customers.py and run
#   python manage.py import_customers import-2026-12-01
# (tests/test_recipes.py runs it.)
import logging

from django.core.management.base import BaseCommand

from tasktail import TasktailHandler


class Command(BaseCommand):
    help = "Import the customers, reporting to tasktail under TASK_ID"

    def add_arguments(self, parser):
        parser.add_argument("task_id")

    def handle(self, task_id, **options):
        log = logging.getLogger("imports")
        log.setLevel(logging.INFO)
        handler = TasktailHandler(task_id)  # TASKTAIL_SERVER and TASKTAIL_KEY
        log.addHandler(handler)
        try:
            for batch in range(1, 4):
                ...  # the work
                log.info("batch %d of 3 imported", batch, extra={"progress": batch * 33})
            log.info("import complete", extra={"level": "success", "progress": 100, "finished": True})
        finally:
            log.removeHandler(handler)
            handler.close()  # flushes
