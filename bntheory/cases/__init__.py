"""The ground floor of every check: batch families, strategies, layer calls, settings, cases."""
