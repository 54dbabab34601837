"""The hardening table `make stress` prints: cases tried, passed, lost, corrupted, longest hang."""

from __future__ import annotations

from collections import OrderedDict

# Test modules whose every case is one row's worth of "tried" (name shown in the table).
GROUPS = {
    "test_fault_matrix.py": "fault matrix (both protocols)",
    "test_stateful.py": "hypothesis state machine",
    "test_manager.py": "stream contract",
    "test_storage.py": "storage / bad input",
    "test_cli.py": "CLI, signals, kill -9",
}

ROWS: "OrderedDict[str, dict]" = OrderedDict()


def _row(case: str) -> dict:
    return ROWS.setdefault(case, dict(case=case, tried=0, passed=0, lost=0, corrupted=0, longest_hang=0.0, note=""))


def record(case: str, tried: int, passed: int, lost: int = 0, corrupted: int = 0, longest_hang: float = 0.0,
           note: str = "") -> None:
    row = _row(case)
    row["tried"] += tried
    row["passed"] += passed
    row["lost"] += lost
    row["corrupted"] += corrupted
    row["longest_hang"] = max(row["longest_hang"], longest_hang)
    row["note"] = note or row["note"]


def on_report(report) -> None:
    if report.when != "call":
        return
    module = report.nodeid.split("::")[0].rsplit("/", 1)[-1]
    case = GROUPS.get(module)
    if case is None:
        return
    row = _row(case)
    row["tried"] += 1
    row["passed"] += report.passed
    row["longest_hang"] = max(row["longest_hang"], report.duration)


def print_table(write) -> None:
    if not ROWS:
        return
    write("")
    write(f"{'case':<34} {'tried':>6} {'passed':>7} {'lost':>5} {'corrupt':>8} {'longest':>9}  note")
    for r in ROWS.values():
        write(f"{r['case']:<34} {r['tried']:>6} {r['passed']:>7} {r['lost']:>5} {r['corrupted']:>8} "
              f"{r['longest_hang']:>8.2f}s  {r['note']}")
    write("('longest' is the slowest single case end to end: no case may hang)")
