"""The statement catalogue of Theorems 1 and 2 (statements as data) and the quantities of a case."""
