"""Reports: a finished run's stored results as a self-contained HTML page and a PDF, with verdicts.

    from reports import build_report
    build_report(Path("runs/quick"))          # -> [runs/quick/report.html, runs/quick/report.pdf]

or `python -m reports RUN_DIR [--format html,pdf] [--out PATH]`. Reports read stored tables only and
never simulate.
"""

from reports.build import FORMATS, build_report
from reports.rundata import RunDirectoryError

__all__ = ["FORMATS", "RunDirectoryError", "build_report"]
