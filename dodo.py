"""doit entry point: every exercises/*/exercise.yml as a task graph. See README.md."""
from pathlib import Path

from doit import get_var
from doit.exceptions import InvalidDodoFile

from tasks import process, project

try:
    DOIT_CONFIG, _TASKS = project.load(Path(__file__).parent, cmdline_vars=get_var)
except project.Ac295Error as err:  # a bad spec: one paragraph, exit 3, no traceback
    raise InvalidDodoFile(str(err)) from None
process.prepare(Path(DOIT_CONFIG["dep_file"]).parent)  # signals and the run lock


def task_ac295():
    """The exercises' steps and the local registry service."""
    yield from _TASKS
