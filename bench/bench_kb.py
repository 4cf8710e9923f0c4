"""Knowledge base search: top-1 accuracy on held-out questions, and the latency of one
answer among 10,000 articles.

    python bench/bench_kb.py [--articles 10000] [--rounds 5] [--pg URL] [--no-write]

1. The shipped knowledge base (knowledge/*.yaml) is read into a fresh store, and every
   question of bench/kb_questions.yaml (paraphrases written apart from the articles'
   own variants, 30 per language in en, ru and zh) is searched: top-1 and top-3
   accuracy, how many were answered at the demo threshold (confidence >= 0.5) and how
   many of those answers were right.
2. --articles synthetic articles are added (each made of words and phrases of the real
   articles in all three languages, so they compete for the same terms), and the same
   questions are searched again: accuracy with distractors, then the latency of one
   search (the database's ranking plus the confidence) over --rounds rounds of every
   question: p50/p95/p99.
Runs on SQLite (a file in a temporary folder), and also on PostgreSQL with --pg URL
(an empty database; `--pg private` starts a private server, as the tests do). Prints
the Markdown section and writes it into docs/benchmarks.md between the bench_kb
markers (--no-write: print only).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotline.knowledge import KnowledgeBase  # noqa: E402
from hotline.knowledge.loader import parse_article  # noqa: E402
from hotline.store import Store, sqlite_url  # noqa: E402

QUESTIONS = ROOT / "bench" / "kb_questions.yaml"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_kb: begin (written by python bench/bench_kb.py) -->"
END = "<!-- bench_kb: end -->"
THRESHOLD = 0.5
LANGUAGES = ("en", "ru", "zh")


def held_questions() -> dict[str, list[tuple[str, str]]]:
    data = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    return {lang: [(item["q"], item["article"]) for item in data[lang]] for lang in LANGUAGES}


async def accuracy(kb: KnowledgeBase, questions: dict[str, list[tuple[str, str]]]) -> dict:
    rows = {}
    for lang, items in questions.items():
        top1 = top3 = answered = right_answers = 0
        misses = []
        for question, article in items:
            hits = await kb.search(question, lang, 3)
            ids = [h.article_id for h in hits]
            top1 += bool(ids) and ids[0] == article
            top3 += article in ids
            if hits and hits[0].confidence >= THRESHOLD:
                answered += 1
                right_answers += ids[0] == article
            if not ids or ids[0] != article:
                misses.append(f"{question} -> {ids[0] if ids else 'nothing'}")
        rows[lang] = {
            "n": len(items),
            "top1": top1,
            "top3": top3,
            "answered": answered,
            "right": right_answers,
            "misses": misses,
        }
    return rows


def synthetic(count: int, seed: int = 7) -> list[str]:
    """Article texts built from the real articles' words, so they compete for them."""
    rng = random.Random(seed)
    pools: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    for path in sorted((ROOT / "knowledge").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for lang in LANGUAGES:
            text = " ".join([*data["questions"][lang], data["answer"][lang]])
            if lang == "zh":
                chars = [c for c in text if "\u4e00" <= c <= "\u9fff"]
                pools[lang].extend("".join(chars[i : i + 2]) for i in range(len(chars) - 1))
            else:
                pools[lang].extend(w.strip(".,?!«»()\"'") for w in text.split() if len(w) > 2)
    texts = []
    for n in range(count):
        body: dict[str, dict[str, object]] = {"title": {}, "questions": {}, "answer": {}}
        for lang in LANGUAGES:
            sep = "" if lang == "zh" else " "
            words = pools[lang]
            body["title"][lang] = f"{sep.join(rng.sample(words, 3))} {n}"
            body["questions"][lang] = [sep.join(rng.sample(words, 5)) for _ in range(2)]
            body["answer"][lang] = sep.join(rng.sample(words, 25))
        texts.append(yaml.safe_dump(body, allow_unicode=True))
    return texts


async def run_store(url: str, articles: int, rounds: int) -> dict:
    store = await Store.connect(url)
    await store.migrate()
    try:
        kb, problems = await KnowledgeBase.open(store, LANGUAGES, ROOT / "knowledge")
        assert not problems, problems
        questions = held_questions()
        shipped = await accuracy(kb, questions)
        started = time.perf_counter()
        loaded = [
            parse_article(text, f"syn-{n:05d}.yaml", f"syn-{n:05d}")
            for n, text in enumerate(synthetic(articles))
        ]
        for start in range(0, len(loaded), 500):
            await kb.record(loaded[start : start + 500], "file", "bench")
        indexed = time.perf_counter() - started
        crowded = await accuracy(kb, questions)
        latencies = []
        for _ in range(rounds):
            for lang, items in questions.items():
                for question, _article in items:
                    began = time.perf_counter()
                    await kb.search(question, lang, 3)
                    latencies.append((time.perf_counter() - began) * 1000)
        return {
            "dialect": store.dialect,
            "shipped": shipped,
            "crowded": crowded,
            "indexed_s": indexed,
            "latency": latencies,
            "articles": len(kb.current()),
        }
    finally:
        await store.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def section(results: list[dict], command: str) -> str:
    load = os.getloadavg()[0]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BEGIN,
        "## Knowledge base: search accuracy and latency",
        "",
        f"Command: `{command}`; {now}, load average {load:.2f} on this 2-core machine.  ",
        "Held-out questions: bench/kb_questions.yaml (30 per language, written apart from "
        "the articles' variants). Answered: top hit's confidence >= 0.5 (the demo "
        "threshold); right: of those answered, the right article.",
        "",
        "| store | articles | language | top-1 | top-3 | answered | right of answered |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for label, rows, count in (
            ("shipped", result["shipped"], 10),
            ("+ synthetic", result["crowded"], result["articles"]),
        ):
            for lang in LANGUAGES:
                row = rows[lang]
                lines.append(
                    f"| {result['dialect']} | {count:,} ({label}) | {lang} "
                    f"| {row['top1']}/{row['n']} ({100 * row['top1'] / row['n']:.0f}%) "
                    f"| {row['top3']}/{row['n']} "
                    f"| {row['answered']}/{row['n']} "
                    f"| {row['right']}/{row['answered']} |"
                )
    lines += [
        "",
        "| store | articles | searches | p50 ms | p95 ms | p99 ms | parsing + indexing synthetic |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        lat = result["latency"]
        lines.append(
            f"| {result['dialect']} | {result['articles']:,} | {len(lat)} "
            f"| {percentile(lat, 50):.1f} | {percentile(lat, 95):.1f} "
            f"| {percentile(lat, 99):.1f} | {result['indexed_s']:.1f} s |"
        )
    misses = [
        f"{lang}: {miss}"
        for result in results[:1]
        for lang in LANGUAGES
        for miss in result["shipped"][lang]["misses"]
    ]
    if misses:
        lines += ["", "Top-1 misses on the shipped articles (" + results[0]["dialect"] + "):", ""]
        lines += [f"- {miss}" for miss in misses]
    lines.append(END)
    return "\n".join(lines)


def write_section(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    if BEGIN in doc and END in doc:
        before, rest = doc.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        doc = before + text + after
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    DOC.write_text(doc, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--pg",
        help="an empty PostgreSQL database URL to run on as well, or 'private' for a "
        "private server started for the run (tests/pg.py)",
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--zh-unigrams",
        action="store_true",
        help="index and search Chinese by single characters instead of bigrams (to compare)",
    )
    args = parser.parse_args()
    if args.zh_unigrams:
        from hotline.knowledge import text as analysis

        analysis._bigrams = list  # type: ignore[assignment]  # each character on its own
    results = []
    with tempfile.TemporaryDirectory() as folder:
        url = sqlite_url(str(Path(folder) / "kb.db"))
        results.append(asyncio.run(run_store(url, args.articles, args.rounds)))
    if args.pg == "private":
        from tests.pg import private_postgres

        with private_postgres() as server:
            url = server.create_database("bench_kb")
            results.append(asyncio.run(run_store(url, args.articles, args.rounds)))
    elif args.pg:
        results.append(asyncio.run(run_store(args.pg, args.articles, args.rounds)))
    command = "python bench/bench_kb.py" + "".join(
        f" {flag}" for flag in sys.argv[1:] if not flag.startswith("postgresql")
    )
    hidden = args.pg if args.pg and args.pg != "private" else "\0"
    text = section(results, command.replace(hidden, "URL"))
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
