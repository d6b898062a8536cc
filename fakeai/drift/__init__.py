"""``fakeai drift OLD NEW``: keyless schema-drift checks between two OpenAPI documents.

Every change is classified by who it breaks (clients, fakeai users' scenarios and fixtures, or
nobody) — see :mod:`fakeai.drift.classify` for the table. ``add_arguments``/``run`` are the CLI
subcommand hooks ``fakeai.cli`` expects; :func:`compare_documents` is the engine.
"""

from __future__ import annotations

from fakeai.drift.change import Change, Severity
from fakeai.drift.classify import KINDS
from fakeai.drift.cli import add_arguments, build_report, exit_code, run
from fakeai.drift.compare import compare_documents

__all__ = ["KINDS", "Change", "Severity", "add_arguments", "build_report", "compare_documents", "exit_code", "run"]
