"""The headless stream engine: providers, stream manager, storage and logs.

Nothing under this package imports Textual (an import-linter contract checks it), so the
engine runs and is tested without a UI, and a later server process could host it.
"""
