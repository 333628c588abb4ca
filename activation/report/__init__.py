"""``activation report``: one self-contained HTML file with the segment charts (see builder.py)."""

from activation.report.builder import build_report, read_report, render_report, write_report

__all__ = ["build_report", "read_report", "render_report", "write_report"]
