"""Collects stress results and prints them as one table at the end of the run."""

from __future__ import annotations

RESULTS: list[dict] = []


def record(case: str, tried: int, passed: int, lost: int = 0, corrupted: int = 0, longest_hang: float = 0.0,
           note: str = "") -> None:
    RESULTS.append(dict(case=case, tried=tried, passed=passed, lost=lost, corrupted=corrupted,
                        longest_hang=longest_hang, note=note))


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    w = terminalreporter.write_line
    w("")
    w(f"{'case':<34} {'tried':>6} {'passed':>7} {'lost':>5} {'corrupt':>8} {'longest hang':>13}  note")
    for r in RESULTS:
        w(f"{r['case']:<34} {r['tried']:>6} {r['passed']:>7} {r['lost']:>5} {r['corrupted']:>8} "
          f"{r['longest_hang']:>12.2f}s  {r['note']}")
