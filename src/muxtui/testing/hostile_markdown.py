"""Reply shapes that once froze the renderer: one huge block, deep nesting, wide text.

Each shape is a (name, text, last) triple: ``last`` is a word that must be painted once the
reply is rendered (the end of the text, where a stuck renderer stops short). Used by
tests/test_render_shapes.py, the stress matrix (tests/stress/test_render_matrix.py) and
``make bench``; ``scale`` shrinks the big ones for quick runs.
"""

from __future__ import annotations

from muxtui.testing import markdown_mix

__all__ = ["SHAPES", "code_block", "shape"]


def code_block(functions: int = 120) -> str:
    """A reply holding one closed Python fence of short functions (~4.2 KB for 120)."""
    body = "".join(f"def func_{n:03d}(x):\n    return x + {n}\n" for n in range(functions))
    return f"Here is the module:\n\n```python\n{body.rstrip()}\n```\n\nThat is all: func_{functions - 1:03d} is last.\n"


def unclosed_fence(lines: int = 50_000) -> str:
    return "Log:\n\n```text\n" + "".join(f"line {n} ok\n" for n in range(lines)) + f"end_of_log_{lines}"


def table(rows: int = 5_000) -> str:
    head = "| id | name | value |\n|---:|------|-------|\n"
    body = "".join(f"| {n} | row_{n} | {n * 7 % 1000} |\n" for n in range(rows))
    return "A table:\n\n" + head + body + f"\nafter_table_{rows}\n"


def nested_list(depth: int = 200) -> str:
    return "".join("  " * n + f"- level_{n}\n" for n in range(depth)) + f"\nafter_list_{depth}\n"


def nested_quote(depth: int = 200) -> str:
    return "".join(">" * (n + 1) + f" quote_{n}\n" for n in range(depth)) + f"\nafter_quote_{depth}\n"


def wide_paragraph(size: int = 186_000) -> str:
    unit = "日本語のテキスト🎉絵文字と漢字、"
    count = size // len(unit.encode("utf-8")) + 1
    return unit * count + "wide_end"


def ordinary(size: int = 5_000_000) -> str:
    chunks = max(10, size // 7)
    return "".join(markdown_mix.generate(chunks, 3))


def shape(name: str, scale: float = 1.0) -> tuple[str, str, str]:
    """(name, text, last word) of a shape, its size multiplied by `scale` where it has one."""
    if name == "code_4k":
        return name, code_block(120), "func_119"
    if name == "code_8k":
        return name, code_block(210), "func_209"
    if name == "unclosed_fence":
        n = max(100, int(50_000 * scale))
        return name, unclosed_fence(n), f"end_of_log_{n}"
    if name == "table":
        n = max(50, int(5_000 * scale))
        return name, table(n), f"after_table_{n}"
    if name == "deep_list":
        return name, nested_list(200), "after_list_200"
    if name == "deep_quote":
        return name, nested_quote(200), "after_quote_200"
    if name == "wide_paragraph":
        return name, wide_paragraph(max(2_000, int(186_000 * scale))), "wide_end"
    if name == "ordinary":
        text = ordinary(max(20_000, int(5_000_000 * scale)))
        last = text.rstrip().split()[-1].strip("*`#>.-")
        return name, text, last
    raise KeyError(name)


SHAPES = ("code_4k", "code_8k", "unclosed_fence", "table", "deep_list", "deep_quote", "wide_paragraph", "ordinary")
