"""search (see DESIGN.md)."""
