"""The Textual app. Imports the engine and subscribes to its events; never the other way."""
