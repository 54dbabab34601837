"""Theme files: muxtui's own palettes (shipped in the package) and the user's themes/*.toml.

A theme file holds: name, dark, primary, secondary, accent, foreground, background, surface,
panel, success, warning, error. A file that cannot be used is reported, never fatal.

Also here: ``selection_colors``, the mouse selection made opaque for every theme (see there).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "themes"
DEFAULT_THEME = "muxtui-dark"
COLOR_KEYS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
              "success", "warning", "error")
KNOWN_KEYS = {"name", "dark", *COLOR_KEYS}


@dataclass
class ThemeProblem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"theme {self.path}: {self.message}"


def parse_theme(path: Path) -> Theme:
    """One theme file -> Theme; raises ValueError with a message a user can act on."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"invalid TOML: {exc}") from None
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError('needs name = "..."')
    if "primary" not in data:
        raise ValueError("needs a primary colour")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_KEYS))})")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError("dark must be true or false")
    colors: dict[str, str] = {}
    for key in COLOR_KEYS:
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a colour string like \"#5fafd7\"")
        try:
            Color.parse(value)
        except ColorParseError:
            raise ValueError(f"{key} = {value!r} is not a colour") from None
        colors[key] = value
    return Theme(name=name.strip(), dark=dark, **colors)


def load_themes(*folders: Path) -> tuple[list[Theme], list[ThemeProblem]]:
    """Every *.toml in the folders, in order (later folders override earlier names)."""
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for folder in folders:
        try:
            files = sorted(folder.glob("*.toml"))
        except OSError:
            continue
        for path in files:
            try:
                theme = parse_theme(path)
            except ValueError as exc:
                problems.append(ThemeProblem(path, str(exc)))
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems


def selection_colors(variables: dict[str, str]) -> dict[str, str]:
    """Opaque mouse-selection colours for a theme's CSS variables.

    Textual's default selection is the primary colour at 50% over a "transparent" text colour.
    Widgets that paint their own lines (the chat's Markdown blocks, the sidebar) turn those into
    plain Rich styles, where the alpha is lost: the text came out in the selection colour on
    the selection colour, i.e. invisible. Here the background is blended over the theme's
    background and the text gets the theme's foreground (or black/white when that is too close
    to the background), so every widget shows the same readable selection."""
    try:
        base = Color.parse(variables["background"])
        background = Color.parse(variables["screen-selection-background"])
        foreground = Color.parse(variables["screen-selection-foreground"])
        text = Color.parse(variables["foreground"])
    except (KeyError, ColorParseError):
        return {}
    if background.ansi is not None or base.ansi is not None:
        return {}  # an ANSI theme: the terminal's own palette decides
    if background.a < 1:
        background = base + background
    if foreground.a < 1:
        foreground = text.with_alpha(1)
    if abs(foreground.brightness - background.brightness) < 0.35:
        foreground = background.get_contrast_text(1.0)
    return {"screen-selection-background": background.hex6, "screen-selection-foreground": foreground.hex6}
