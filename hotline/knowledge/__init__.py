"""The knowledge base: articles (files and admin edits, every version kept), lint,
and full-text search in the store's database.

The search others use: `await KnowledgeBase.search(query, language, limit) -> list[Hit]`.
"""

from hotline.knowledge.article import Article, Hit, Link
from hotline.knowledge.base import BadQuestion, KnowledgeBase, KnowledgeError, Version
from hotline.knowledge.text import LANGUAGES, UnknownLanguage

__all__ = [
    "LANGUAGES",
    "Article",
    "BadQuestion",
    "Hit",
    "KnowledgeBase",
    "KnowledgeError",
    "Link",
    "UnknownLanguage",
    "Version",
]
