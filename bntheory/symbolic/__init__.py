"""symbolic (see DESIGN.md)."""
