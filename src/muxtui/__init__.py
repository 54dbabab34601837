"""muxtui: a keyboard-driven terminal workspace manager for LLM chat."""

__version__ = "0.1.0"
