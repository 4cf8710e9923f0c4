"""The `knowledge` node: answer a typed question from the knowledge base.

Each round asks a question (or takes one typed where a choice was asked), searches,
and either gives the best article's answer (confidence at or above the node's
threshold) or offers the closest articles as buttons. A given answer is followed by
"did this help?": yes ends the node with `answered`; no, or nothing found, starts the
next round, until `max_questions`, then `unanswered` with the question and the
articles tried in flow variables for the agent who takes over.
"""

from __future__ import annotations

from collections.abc import Sequence

from hotline.flows import model as m
from hotline.flows.port import Ask, Prompt
from hotline.flows.services import KnowledgeUnavailable
from hotline.flows.steps import Context, FlowFailure
from hotline.knowledge.article import Hit
from hotline.knowledge.base import BadQuestion, check_question
from hotline.messages import article_card

#: Catalogue keys of the node's own messages.
ASK_AGAIN = "kb_ask_again"
EMPTY = "kb_question_empty"
TOO_LONG = "kb_question_too_long"
NOT_FOUND = "kb_not_found"
CLOSEST = "kb_closest"
HELPED = "kb_helped"
YES, NO, NONE_OF_THESE = "1", "2", "0"
#: The node's own prompts (besides those the flow names): the catalogue must have them.
BUILT_IN_PROMPTS = (EMPTY, TOO_LONG, NOT_FOUND, CLOSEST, HELPED)
#: How long a choice or "did this help?" waits on a voice-like port (text waits anyway).
CHOICE_TIMEOUT = 30.0


async def answer_question(ctx: Context, node: m.KnowledgeNode) -> str:
    tried: list[Hit] = []
    question = ""
    typed: str | None = None  # a new question typed where a button was expected
    for round_ in range(node.max_questions):
        if typed is None:
            prompts = node.prompt if round_ == 0 else node.again_prompt
            typed = await _ask_question(ctx, prompts)
        asked, typed = typed, None
        try:
            question = check_question(asked)
            hits = await _search(ctx, node, question, tried)
        except BadQuestion:
            await _input(ctx, "invalid")
            await _say(ctx, [Prompt(key=EMPTY if not asked.strip() else TOO_LONG)])
            continue
        await _input(ctx, "match")
        hit, chosen, typed = await _pick(ctx, node, hits)
        if hit is None:
            continue
        await _answer(ctx, hit)
        await ctx.emit(
            "knowledge.answered",
            {
                "flow": ctx.flow.name,
                "node": ctx.node_id,
                "question": question,
                "language": ctx.language,
                "article": hit.article_id,
                "confidence": round(hit.confidence, 3),
                "chosen": chosen,
            },
        )
        helped = await ctx.ask(
            Ask(
                prompts=[Prompt(key=HELPED)],
                complete_on=frozenset({YES, NO}),
                timeout=CHOICE_TIMEOUT,
            )
        )
        helpful = helped.digits == YES
        await ctx.emit(
            "knowledge.feedback",
            {
                "flow": ctx.flow.name,
                "node": ctx.node_id,
                "article": hit.article_id,
                "helpful": helpful,
            },
        )
        if helpful:
            await _variables(ctx, question, hit.article_id, tried)
            return "answered"
        tried.append(hit)
        if helped.digits not in (NO, "") and helped.via == "text":
            typed = helped.text or helped.digits  # they wrote their question instead
    await _variables(ctx, question, "", tried)
    await ctx.emit(
        "knowledge.unanswered",
        {
            "flow": ctx.flow.name,
            "node": ctx.node_id,
            "question": question,
            "language": ctx.language,
            "tried": [hit.article_id for hit in tried],
        },
    )
    return "unanswered"


async def _input(ctx: Context, result: str) -> None:
    """flow.input for the question (its text is in knowledge.searched, not here)."""
    await ctx.emit(
        "flow.input", {"flow": ctx.flow.name, "node": ctx.node_id, "digits": None, "result": result}
    )


async def _ask_question(ctx: Context, prompts: Sequence[m.PromptSpec]) -> str:
    answer = await ctx.ask(
        Ask(prompts=ctx.prompts(prompts), free_text=True, timeout=CHOICE_TIMEOUT)
    )
    return answer.text or answer.digits


async def _search(
    ctx: Context, node: m.KnowledgeNode, question: str, tried: list[Hit]
) -> list[Hit]:
    seen = {hit.article_id for hit in tried}
    try:
        found = await ctx.services.search_knowledge(
            question, ctx.language, max(node.suggestions, 1) + len(seen), tuple(node.tags)
        )
    except KnowledgeUnavailable as error:
        raise FlowFailure(str(error)) from None
    hits = [hit for hit in found if hit.article_id not in seen]
    await ctx.emit(
        "knowledge.searched",
        {
            "flow": ctx.flow.name,
            "node": ctx.node_id,
            "question": question,
            "language": ctx.language,
            "articles": [hit.article_id for hit in hits],
            "confidence": round(hits[0].confidence, 3) if hits else 0.0,
        },
    )
    return hits


async def _pick(
    ctx: Context, node: m.KnowledgeNode, hits: list[Hit]
) -> tuple[Hit | None, bool, str | None]:
    """The article to answer with (and whether the customer chose it), or None and
    perhaps a new question they typed instead of choosing."""
    if hits and hits[0].confidence >= node.threshold:
        return hits[0], False, None
    offered = [hit for hit in hits if hit.confidence > 0][: node.suggestions]
    if not offered:
        await _say(ctx, [Prompt(key=NOT_FOUND)])
        return None, False, None
    keys = [str(n) for n in range(1, len(offered) + 1)]
    labels = {key: hit.title for key, hit in zip(keys, offered, strict=True)}
    choice = await ctx.ask(
        Ask(
            prompts=[Prompt(key=CLOSEST)],
            complete_on=frozenset([*keys, NONE_OF_THESE]),
            labels=labels,
            timeout=CHOICE_TIMEOUT,
        )
    )
    if choice.digits in labels:
        return offered[keys.index(choice.digits)], True, None
    if choice.digits in (NONE_OF_THESE, "") or choice.via != "text":
        return None, False, None
    return None, False, choice.text or choice.digits


async def _answer(ctx: Context, hit: Hit) -> None:
    """The article's answer, and its links (web addresses written out); a text channel
    shows it as a card with a button per web link (hotline/messages.py)."""
    lines = [hit.answer]
    web_links: list[tuple[str, str]] = []
    for link in hit.links:
        title = link.title.get(hit.language) or next(iter(link.title.values()))
        lines.append(f"{title}: {link.url}" if link.url else title)
        if link.url:
            web_links.append((title, link.url))
    card = article_card(hit.title, hit.answer, web_links)  # None: text only
    await _say(ctx, [Prompt(say="text", value="\n".join(lines), rich=card)])


async def _say(ctx: Context, prompts: list[Prompt]) -> None:
    await ctx.port.play(prompts, language=ctx.language, barge_in=True)


async def _variables(ctx: Context, question: str, article: str, tried: list[Hit]) -> None:
    await ctx.set("kb_question", question)
    await ctx.set("kb_article", article)
    await ctx.set("kb_tried", "; ".join(f"{hit.title} ({hit.article_id})" for hit in tried))
