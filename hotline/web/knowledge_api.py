"""The knowledge base over the REST API: agents read and search it, admins edit it
(every version kept; a refused edit changes nothing and says file, line and field).

    GET    /api/knowledge/search?q=&language=&limit=    best articles first (agents)
    GET    /api/knowledge/articles                      every current article (agents)
    GET    /api/knowledge/articles/{id}                 one, with its YAML text (agents)
    PUT    /api/knowledge/articles/{id}                 new version; body: the YAML (admins)
    DELETE /api/knowledge/articles/{id}                 removed; versions stay (admins)
    GET    /api/knowledge/articles/{id}/versions        every version, newest last (admins)
    GET    /api/knowledge/articles/{id}/versions/{n}    one version's text (admins)

Texts are returned as written (JSON strings): whoever shows them escapes them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline.knowledge import BadQuestion, KnowledgeBase, KnowledgeError, UnknownLanguage
from hotline.knowledge.article import ARTICLE_ID_RE
from hotline.knowledge.loader import MAX_FILE, LoadedArticle
from hotline.web.auth import Role, current_user, error, requires
from hotline.yamlsource import SourceError


def add_knowledge_routes(app: web.Application, kb: KnowledgeBase) -> None:
    @requires(Role.AGENT)
    async def search(request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = min(max(int(query.get("limit", "5")), 1), 50)
        except ValueError:
            return error(400, "limit must be a whole number")
        language = query.get("language", kb.languages[0] if kb.languages else "en")
        try:
            hits = await kb.search(query.get("q", ""), language, limit)
        except (BadQuestion, UnknownLanguage) as refused:
            return error(400, str(refused))
        return web.json_response([hit.public() for hit in hits])

    @requires(Role.AGENT)
    async def articles(request: web.Request) -> web.Response:
        await kb.refresh_if_due()  # another node's edits
        current = kb.current()
        return web.json_response([_summary(current[key]) for key in sorted(current)])

    @requires(Role.AGENT)
    async def article(request: web.Request) -> web.Response:
        await kb.refresh_if_due()  # another node's edits
        article_id = request.match_info["article_id"]
        loaded = kb.current().get(article_id)
        if loaded is None:
            return error(404, f"no article {article_id!r}")
        return web.json_response({**_summary(loaded), "text": loaded.text})

    @requires(Role.ADMIN)
    async def save(request: web.Request) -> web.Response:
        await kb.refresh_if_due()  # another node's edits
        article_id = request.match_info["article_id"]
        if not ARTICLE_ID_RE.match(article_id):
            return error(400, f"bad article id {article_id!r}: lower-case letters, digits, - and _")
        if (request.content_length or 0) > MAX_FILE:
            return error(413, f"an article is at most {MAX_FILE} bytes")
        raw = await request.content.read(MAX_FILE + 1)
        if len(raw) > MAX_FILE:
            return error(413, f"an article is at most {MAX_FILE} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return error(400, "the article is not UTF-8 text")
        existed = article_id in kb.current()
        try:
            version = await kb.save(article_id, text, current_user(request).id)
        except SourceError as refused:
            return _refused(refused)
        except KnowledgeError as refused:
            return error(409, str(refused))
        return web.json_response(version.public(with_text=False), status=200 if existed else 201)

    @requires(Role.ADMIN)
    async def delete(request: web.Request) -> web.Response:
        await kb.refresh_if_due()  # another node's edits
        article_id = request.match_info["article_id"]
        if article_id not in kb.current():
            return error(404, f"no article {article_id!r}")
        try:
            version = await kb.delete(article_id, current_user(request).id)
        except KnowledgeError as refused:
            return error(409, str(refused))
        return web.json_response(version.public(with_text=False))

    @requires(Role.ADMIN)
    async def versions(request: web.Request) -> web.Response:
        article_id = request.match_info["article_id"]
        found = await kb.versions(article_id)
        if not found:
            return error(404, f"no article {article_id!r}")
        return web.json_response([v.public(with_text=False) for v in found])

    @requires(Role.ADMIN)
    async def version(request: web.Request) -> web.Response:
        article_id, number = request.match_info["article_id"], request.match_info["version"]
        found = [v for v in await kb.versions(article_id) if str(v.version) == number]
        if not found:
            return error(404, f"no version {number} of article {article_id!r}")
        return web.json_response(found[0].public())

    base = "/api/knowledge"
    app.router.add_get(f"{base}/search", search)
    app.router.add_get(f"{base}/articles", articles)
    app.router.add_get(f"{base}/articles/{{article_id}}", article)
    app.router.add_put(f"{base}/articles/{{article_id}}", save)
    app.router.add_delete(f"{base}/articles/{{article_id}}", delete)
    app.router.add_get(f"{base}/articles/{{article_id}}/versions", versions)
    app.router.add_get(f"{base}/articles/{{article_id}}/versions/{{version}}", version)


def _summary(loaded: LoadedArticle) -> dict[str, Any]:
    article = loaded.article
    return {
        "id": loaded.id,
        "title": article.title,
        "languages": article.languages(),
        "tags": article.tags,
        "valid_from": article.valid_from.isoformat() if article.valid_from else None,
        "valid_until": article.valid_until.isoformat() if article.valid_until else None,
    }


def _refused(refused: SourceError) -> web.Response:
    """422 with every problem: where it is and what is wrong."""
    return web.json_response(
        {
            "error": str(refused),
            "problems": [
                {"line": p.line, "column": p.column, "field": p.field, "message": p.message}
                for p in refused.problems
            ],
        },
        status=422,
    )
