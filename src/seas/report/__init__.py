"""The run report: ``seas report DIR`` writes one self-contained DIR/report.html.

>>> from seas.report import write_report
>>> write_report("runs/demo")               # doctest: +SKIP
PosixPath('runs/demo/report.html')
"""

from seas.report.html import build_report, write_report

__all__ = ["build_report", "write_report"]
