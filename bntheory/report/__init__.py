"""Writers of the report: Markdown, LaTeX, figures and JSON from typed records."""
