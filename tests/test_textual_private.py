"""The private Textual names muxtui uses are all fenced in muxtui.ui.textual_private, and still
there with the shape we use (an upgrade that removes or reshapes one fails here, naming it).

Three checks:
- every fenced symbol exists in the installed Textual (or Rich) with the expected shape;
- no file in src/, tests/ or bench/ other than the fence touches a private Textual name;
- no muxtui class overrides a private attribute of its Textual base class by accident (an
  upgrade that adds `Widget._lines` would silently break a subclass that has its own).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Markdown, Static, TextArea

from muxtui.ui import textual_private

ROOT = Path(__file__).resolve().parents[1]
FENCE = ROOT / "src" / "muxtui" / "ui" / "textual_private.py"


def params(*names: str):
    """Shape: a callable whose parameters start with `names`."""
    def check(obj) -> str | None:
        if not callable(obj):
            return "is not callable any more"
        found = list(inspect.signature(obj).parameters)
        if found[: len(names)] != list(names):
            return f"takes {found}, expected {list(names)} first"
        return None
    return check


def kind(*types: type):
    def check(obj) -> str | None:
        return None if isinstance(obj, types) else f"is a {type(obj).__name__}, expected {[t.__name__ for t in types]}"
    return check


def a_class(obj) -> str | None:
    return None if inspect.isclass(obj) else f"is a {type(obj).__name__}, not a class"


# (symbol as "module:qualified.name", shape). Class attributes are read with getattr_static, so
# properties and descriptors are checked as what they are, without running them.
SYMBOLS = [
    ("textual._border:get_box", params("name", "inner_style", "outer_style", "style")),
    ("textual._styles_cache:StylesCache", a_class),
    ("textual._styles_cache:StylesCache.render", params(
        "self", "styles", "size", "base_background", "background", "render_content_line", "filters",
        "border_title", "border_subtitle", "content_size", "padding", "crop", "opacity", "ansi_theme",
        "native_ansi")),
    ("textual._styles_cache:StylesCache.clear", params("self")),
    ("textual._xterm_parser:XTermParser", a_class),
    ("textual._xterm_parser:XTermParser.feed", params("self", "data")),
    ("textual._ansi_sequences:ANSI_SEQUENCES_KEYS", kind(dict)),
    ("textual.keys:_character_to_key", params("character")),
    ("textual.widgets._markdown:MarkdownBullet", a_class),
    ("textual.widgets.markdown:MarkdownBlock._token_to_content", params("self", "token")),
    ("textual.dom:DOMNode._css_bases", params("cls", "base")),
    ("textual.dom:DOMNode._get_default_css", params("self")),
    ("textual.message_pump:MessagePump._attach", params("self", "parent")),
    ("textual.widget:Widget._get_style", params("self", "style")),
    ("textual.widget:Widget._on_mount", params("self", "event")),
    ("textual.strip:Strip._apply_link_style", params("self", "link_style")),
    ("textual.app:App._handle_exception", params("self", "error")),
    ("textual.timer:Timer._active", lambda obj: None if hasattr(obj, "__get__") else "is not a property any more"),
    ("textual.widgets:TextArea._replace_via_keyboard", params("self", "insert", "start", "end")),
    ("textual.driver:Driver.send_message", params("self", "message")),
    ("textual.driver:Driver.write", params("self", "data")),
    ("rich.style:Style._meta", lambda obj: None),  # a slot: its existence is the shape
    ("textual.widgets._footer:FooterKey.on_mouse_down", params("self")),  # reads FooterKey._disabled
    ("textual.app:App._display", params("self", "screen", "renderable")),
    ("textual._compositor:CompositorUpdate.render_segments", params("self", "console")),
    ("textual._compositor:LayoutUpdate.__init__", params("self", "strips", "region")),
    ("textual._compositor:ChopsUpdate.__init__", params("self", "chops", "spans", "chop_ends")),
    ("textual.widgets._header:HeaderTitle", a_class),  # ui/frames.StableHeader's title
    # render_only_what_shows replaces a screen compositor's _render_chops (its callers: the
    # full and partial updates, render_strips).
    ("textual._compositor:Compositor._render_chops", params("self", "crop", "is_rendered_line")),
    ("textual._compositor:Compositor.cuts", lambda obj: None if hasattr(obj, "__get__") else "is not a property any more"),
    ("textual._compositor:Compositor.visible_widgets", lambda obj: None if hasattr(obj, "__get__") else "is not a property any more"),
]

# Instance attributes, set in __init__: checked on fresh instances.
INSTANCE_ATTRIBUTES = [
    ("textual.app:App", "_keymap", kind(dict)),
    ("textual.app:App", "_notifications", lambda obj: None if hasattr(obj, "__iter__") else "is not iterable"),
    ("textual.app:App", "_driver", lambda obj: None if obj is None else "is not None before the app runs"),
    ("textual.widget:Widget", "_styles_cache", lambda obj: None if callable(getattr(obj, "clear", None))
     else "has no clear()"),
    ("textual.screen:Screen", "_compositor", lambda obj: None if callable(getattr(obj, "render_strips", None))
     else "has no render_strips()"),
]

# The private names above as attribute names: nothing outside the fence may use them.
PRIVATE_ATTRIBUTES = sorted(
    {part for symbol, _ in SYMBOLS for part in symbol.split(":")[1].split(".") if part.startswith("_")}
    | {name for _, name, _ in INSTANCE_ATTRIBUTES}
    | {"_segments", "_parser_factory", "_open_links", "_select_all_in_widget", "_exit", "_on_key", "_on_paste"}
    | {"_disabled"}
)


def resolve(symbol: str):
    module_name, _, path = symbol.partition(":")
    obj = importlib.import_module(module_name)
    for part in path.split("."):
        obj = inspect.getattr_static(obj, part) if inspect.isclass(obj) else getattr(obj, part)
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    return obj


@pytest.mark.parametrize("symbol,shape", SYMBOLS, ids=[symbol for symbol, _ in SYMBOLS])
def test_fenced_symbol_still_exists(symbol, shape):
    try:
        obj = resolve(symbol)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"private Textual name {symbol} is gone ({error}): fix muxtui/ui/textual_private.py")
    problem = shape(obj)
    assert problem is None, f"private Textual name {symbol} {problem}: fix muxtui/ui/textual_private.py"


@pytest.mark.parametrize("owner,name,shape", INSTANCE_ATTRIBUTES, ids=[f"{o}.{n}" for o, n, _ in INSTANCE_ATTRIBUTES])
def test_fenced_instance_attribute_still_exists(owner, name, shape):
    instance = resolve(owner)()
    assert hasattr(instance, name), f"private Textual attribute {owner}.{name} is gone: fix muxtui/ui/textual_private.py"
    problem = shape(getattr(instance, name))
    assert problem is None, f"private Textual attribute {owner}.{name} {problem}: fix muxtui/ui/textual_private.py"


def test_default_css_sources_match_a_mounted_instance():
    """The trick in default_css_sources (no instance) gives what an instance would."""
    for cls in (Markdown, textual_private.MarkdownBullet, Static):
        assert textual_private.default_css_sources(cls) == cls()._get_default_css(), cls.__name__


def test_set_footer_key_disabled_makes_the_key_footer_would_compose():
    from textual.widgets._footer import FooterKey

    for disabled in (True, False):
        composed = FooterKey("escape", "esc", "Stop", "interrupt", disabled=disabled)
        updated = FooterKey("escape", "esc", "Stop", "interrupt", disabled=not disabled)
        textual_private.set_footer_key_disabled(updated, disabled)
        assert updated.classes == composed.classes and updated._disabled is composed._disabled is disabled


def test_inline_content_converts_as_markdown_does():
    from markdown_it import MarkdownIt

    inline = next(t for t in MarkdownIt("gfm-like").parse("some **bold** and `code`") if t.type == "inline")
    content = textual_private.inline_content(inline)
    assert content.plain == "some bold and code"
    assert {str(span.style) for span in content.spans} >= {".strong", ".code_inline"}


async def test_the_fence_works_in_a_running_app():
    """Each fenced helper does what its callers expect, on the installed Textual."""
    edits: list[int] = []

    class Probe(App):
        def compose(self) -> ComposeResult:
            yield Static("hello fence")
            yield TextArea(id="area")

    app = Probe()
    async with app.run_test(size=(40, 6), notifications=True) as pilot:
        await pilot.pause()
        assert "hello fence" in "\n".join(strip.text for strip in textual_private.screen_strips(app.screen))
        textual_private.release_painted_lines(app.query_one(Static))  # painted again when needed
        app.query_one(Static).refresh()
        await pilot.pause()
        assert "hello fence" in "\n".join(strip.text for strip in textual_private.screen_strips(app.screen))
        app.notify("a note")
        await pilot.pause()
        assert [str(n.message) for n in textual_private.notifications(app)] == ["a note"]
        app.set_keymap({"some-binding": "?"})
        assert textual_private.app_keymap(app) == {"some-binding": "question_mark"}
        timer = app.set_interval(60, lambda: None, pause=True)
        assert not textual_private.timer_running(timer)
        timer.resume()
        assert textual_private.timer_running(timer)
        timer.stop()
        area = app.query_one(TextArea)
        area.focus()
        textual_private.on_keyboard_edit(area, lambda: edits.append(1))
        await pilot.press("x")
        assert area.text == "x" and edits == [1]
        textual_private.write_to_terminal(app, "")  # the headless driver takes it
        assert callable(textual_private.style_getter(area))
    assert textual_private.ansi_sequence_table() is not None
    assert textual_private.character_to_key("?") == "question_mark"


# ---- nothing outside the fence -------------------------------------------------------------------

_PRIVATE_IMPORT = re.compile(r"^\s*(?:from|import)\s+(textual(?:\.\w+)*\._\w+|textual(?:\.\w+)*\s+import\s+.*\b_\w+)", re.M)
_ALLOWED = {"os._exit"}


def _sources():
    for folder in ("src", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path not in (FENCE, Path(__file__).resolve()):
                yield path


def _defined_by_muxtui() -> set[str]:
    """Private names muxtui's own code assigns or defines: `x._name` with one of those is ours
    (a muxtui class that takes a Textual name on a Textual subclass fails the override test)."""
    defined: set[str] = set()
    for path in _sources():
        text = path.read_text()
        for assigned, function in re.findall(r"(?:self|cls)\.(_\w+)\s*(?::[^=\n]*)?=(?!=)|def (_\w+)\(", text):
            defined.add(assigned or function)
    return defined


def test_no_private_textual_name_outside_the_fence():
    names = "|".join(sorted(set(PRIVATE_ATTRIBUTES) - _defined_by_muxtui()))
    attribute = re.compile(rf"([\w)\]]+)\.({names})\b|[\"']({names})[\"']")
    found = []
    for path in _sources():
        text = path.read_text()
        for match in _PRIVATE_IMPORT.finditer(text):
            found.append(f"{path.relative_to(ROOT)}: imports {match.group(1)}")
        for number, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for match in attribute.finditer(line):
                if match.group(1) and f"{match.group(1)}.{match.group(2)}" in _ALLOWED:
                    continue
                name = match.group(2) or match.group(3)
                found.append(f"{path.relative_to(ROOT)}:{number}: uses {name}")
    assert not found, "private Textual names outside muxtui/ui/textual_private.py:\n" + "\n".join(found)


# ---- no accidental overrides ----------------------------------------------------------------------

_ASSIGNED = re.compile(r"self\.(_[a-zA-Z]\w*)\s*(?::[^=\n]*)?=(?!=)")


def _muxtui_classes():
    import pkgutil

    import muxtui.ui

    for info in pkgutil.walk_packages(muxtui.ui.__path__, "muxtui.ui."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                yield cls


@functools.cache
def _names(cls) -> set[str]:
    names = {name for name in vars(cls) if name.startswith("_") and not name.startswith("__")}
    try:
        names |= set(_ASSIGNED.findall(inspect.getsource(cls)))
    except (OSError, TypeError):
        pass
    return names


def _from_textual(cls) -> bool:
    return (cls.__module__ or "").split(".")[0] in ("textual", "rich")


def test_no_muxtui_class_overrides_a_private_textual_attribute():
    clashes = []
    for cls in _muxtui_classes():
        textual_bases = [base for base in cls.__mro__[1:] if _from_textual(base)]
        if not textual_bases:
            continue
        ours = set().union(*(_names(base) for base in cls.__mro__ if base.__module__.startswith("muxtui.")))
        theirs = set().union(*(_names(base) for base in textual_bases))
        # Names Textual's metaclass sets on every subclass (bindings, CSS type names) are not ours.
        made_for_every_subclass = set(vars(type("Probe", (textual_bases[0],), {})))
        for name in sorted((ours & theirs) - made_for_every_subclass):
            clashes.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    assert not clashes, "muxtui classes shadow private Textual attributes (rename ours):\n" + "\n".join(clashes)
