"""Statements as data, their ingredients and margins, and Lemma 4.5's exact problems."""
