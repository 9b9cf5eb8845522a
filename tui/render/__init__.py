"""Rich renderers (tables, charts) that the CLI prints and the app reuses; no Textual here."""
