"""Testing helpers: seeded batch families and Hypothesis strategies, for this suite and for users."""
