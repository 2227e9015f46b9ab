"""Worst-case search and tightness of the catalogue's statements (``scipy.optimize`` + torch)."""

from bntheory.search.core import OBJECTIVES, SearchResult, search
from bntheory.search.space import CaseSpace

__all__ = ["OBJECTIVES", "CaseSpace", "SearchResult", "search"]
