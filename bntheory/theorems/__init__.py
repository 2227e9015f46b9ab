"""theorems (see DESIGN.md)."""
