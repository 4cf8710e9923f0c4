"""Lint rules of the knowledge node and of menu intents (called by hotline/flows/lint.py)."""

from __future__ import annotations

from collections.abc import Callable

from hotline.catalogue import Catalogue
from hotline.flows import model as m
from hotline.flows.knowledge_step import BUILT_IN_PROMPTS
from hotline.knowledge.text import LANGUAGES, terms

#: (rule, message, *path under the flow file)
Add = Callable[..., None]


def lint_knowledge(
    add: Add,
    flow: m.Flow,
    catalogue: Catalogue | None,
    languages: list[str] | None,
    *,
    voice: bool,
) -> None:
    """Knowledge nodes: text channels only, their own prompts in the catalogue, languages
    the knowledge base can search; menu intents: options that exist, known languages."""
    for node_id, node in flow.nodes.items():
        at = ("nodes", node_id)
        if isinstance(node, m.KnowledgeNode):
            if voice:
                add(
                    "text-only",
                    f"node {node_id!r}: a knowledge node answers typed questions; this flow "
                    "takes calls (a number's flow), where free questions are not heard yet "
                    "— use a menu, or run it from the chat flow",
                    *at,
                    "type",
                )
            for language in languages or []:
                if language not in LANGUAGES:
                    add(
                        "language-unknown",
                        f"node {node_id!r}: the knowledge base cannot search {language!r} "
                        f"(it knows {', '.join(LANGUAGES)})",
                        *at,
                        "type",
                    )
                for key in BUILT_IN_PROMPTS if catalogue is not None else ():
                    if catalogue is not None and catalogue.text(key, language) is None:
                        add(
                            "prompt-missing",
                            f"the knowledge node's prompt {key!r} has no {language} text "
                            "in the catalogue",
                            *at,
                            "type",
                        )
        if isinstance(node, m.MenuNode) and node.intents:
            _intents(add, node, at, languages)


def _intents(add: Add, node: m.MenuNode, at: tuple[str, str], languages: list[str] | None) -> None:
    owners: dict[tuple[str, tuple[str, ...]], str] = {}
    for key, by_language in node.intents.items():
        if key not in node.options:
            add(
                "intents",
                f"intents for {key!r}, which is not an option of this menu "
                f"(options: {', '.join(node.options)})",
                *at,
                "intents",
                key,
            )
        for language, phrases in by_language.items():
            if language not in LANGUAGES or (languages and language not in languages):
                add(
                    "language-unknown",
                    f"intents in {language!r}: not a language of this flow that intents "
                    f"understand ({', '.join(LANGUAGES)})",
                    *at,
                    "intents",
                    key,
                    language,
                )
                continue
            for index, phrase in enumerate(phrases):
                words = tuple(sorted(set(terms(phrase, language))))
                if not words:
                    add(
                        "intents",
                        f"intent phrase {phrase!r} has no words that count (only stop words)",
                        *at,
                        "intents",
                        key,
                        language,
                        index,
                    )
                    continue
                other = owners.setdefault((language, words), key)
                if other != key:
                    add(
                        "intents",
                        f"intent phrase {phrase!r} is also an example of option {other!r}",
                        *at,
                        "intents",
                        key,
                        language,
                        index,
                    )
