"""landscape (see DESIGN.md)."""
