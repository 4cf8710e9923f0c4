"""A node's spoken answers over its attempts: the grammar to listen with while speech
is on, and what an answer that was not understood leads to — asked again by voice up
to `retries` times, then keys only (with the node's `fallback_prompt`).

Each spoken answer, and each time speech could not be used, is logged as
`speech.recognised {node, text, confidence, fallback, language}` where `fallback` is
None (taken), "again" (asked again), "keys" (speech given up for this node) or why
speech was unavailable ("busy", "no_model", "loading", "failed", "slow").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from hotline.speech.grammar import Grammar, GrammarError, digits_grammar, menu_grammar

if TYPE_CHECKING:
    from hotline.flows.model import CollectSpeech, MenuSpeech, PromptSpec, SpeechOptions
    from hotline.flows.port import Answer

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class SpokenAnswers:
    def __init__(
        self, options: SpeechOptions | None, grammar_for: Callable[[str], Grammar]
    ) -> None:
        self.options = options
        self.grammar_for = grammar_for
        self.misses = 0
        self.given_up = False

    @classmethod
    def menu(cls, speech: MenuSpeech | None) -> SpokenAnswers:
        """A menu's: its phrases per option."""
        if speech is None:
            return cls(None, _nothing)
        phrases, threshold = speech.phrases, speech.min_confidence
        return cls(speech, lambda language: menu_grammar(phrases, language, threshold))

    @classmethod
    def digits(cls, speech: CollectSpeech | None) -> SpokenAnswers:
        """A collect node's: digit words."""
        if speech is None:
            return cls(None, _nothing)
        threshold = speech.min_confidence
        return cls(speech, lambda language: digits_grammar(language, threshold))

    def grammar(self, language: str) -> Grammar | None:
        """What to listen for in `language`; None: keys only."""
        if self.options is None or self.given_up or language not in self.options.offered():
            return None
        try:
            return self.grammar_for(language)
        except GrammarError:  # the linter reports it; at run time the keys still work
            return None

    async def heard(
        self, answer: Answer, *, node: str, language: str, emit: Emit, sensitive: bool = False
    ) -> Sequence[PromptSpec]:
        """Log a spoken answer (or speech being unavailable); the prompts to say
        before the next attempt (the fallback prompt once speech is given up)."""
        if self.options is None:
            return []
        data: dict[str, Any] = {
            "node": node,
            "text": "***" if sensitive and answer.text else answer.text,
            "confidence": answer.confidence,
            "language": language,
        }
        if answer.speech_unavailable:
            await emit("speech.recognised", {**data, "fallback": answer.speech_unavailable})
            return []
        if answer.via != "speech":
            return []
        if answer.digits:
            await emit("speech.recognised", {**data, "fallback": None})
            return []
        self.misses += 1
        if self.misses > self.options.retries:
            self.given_up = True
            await emit("speech.recognised", {**data, "fallback": "keys"})
            return self.options.fallback_prompt
        await emit("speech.recognised", {**data, "fallback": "again"})
        return []


def _nothing(language: str) -> Grammar:
    raise GrammarError("the node does not listen for speech")
