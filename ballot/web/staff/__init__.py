"""Staff pages, one blueprint per task, nested under the `admin` blueprint of common.py.

`admin` holds what every staff page shares (the signed-in user, the refusal page, the template
helpers) under the /admin prefix; each task module below has its own blueprint, so its endpoints
read `admin.<task>.<view>`. They are nested here, once per process, when the package is imported.
"""

from . import account, codes, common, conduct, items, meetings, paper, people, results

TASKS = (account, meetings, codes, items, conduct, results, people, paper)

for _task in TASKS:
    common.bp.register_blueprint(_task.bp)

bp = common.bp
