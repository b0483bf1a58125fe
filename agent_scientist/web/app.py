"""The Starlette app of `agent-scientist serve`: pages over the workspace home, the live step stream, and
(only with --allow-runs) the run buttons. Every request first passes security.Guard."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from agent_scientist.config import Settings
from agent_scientist.records import PaperMeta, StepRecord
from agent_scientist.web import views
from agent_scientist.web.pages import page_image
from agent_scientist.web.render import url
from agent_scientist.web.runs import Runs
from agent_scientist.web.security import Guard, Refused, resolve_inside
from agent_scientist.workspace import Workspace, WorkspaceError

STATIC = Path(__file__).parent / "static"
POLL_S = 0.25  # how often the event stream looks at steps.jsonl's size
STREAM_MAX_S = 3600.0  # an event stream ends after this; the page's EventSource reconnects from its offset


@dataclass
class Config:
    settings: Settings
    token: str
    host: str = "127.0.0.1"
    port: int = 8000
    allow_runs: bool = False
    notes: views.NotesCache = field(default_factory=views.NotesCache)


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("agent_scientist.web", "templates"), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["url"] = url
    return env


def create_app(config: Config) -> Any:
    """The ASGI app, wrapped in the Host/token/CSRF guard."""
    home = Path(config.settings.home)
    env = _templates()
    runs = Runs(home)

    def page(request: Request, template: str, code_: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(template).render(csrf=request.scope["state"]["csrf"], allow_runs=config.allow_runs,
                                                 **context)
        return HTMLResponse(html, code_)

    def refuse(request: Request, message: str, code_: int = 404) -> HTMLResponse:
        return page(request, "error.html", code_, message=message)

    def open_ws(request: Request) -> Workspace:
        name = request.query_params.get("name") or ""
        return Workspace.open(home, name)

    async def home_view(request: Request) -> Response:
        return page(request, "home.html", **views.home_page(home))

    async def workspace_view(request: Request) -> Response:
        try:
            ws = open_ws(request)
            data = views.workspace_page(ws, config.settings, config.notes)
        except WorkspaceError as exc:
            return refuse(request, str(exc))
        return page(request, "workspace.html", **data)

    def _paper(request: Request) -> tuple[Workspace, PaperMeta]:
        ws = open_ws(request)
        pid = request.query_params.get("paper") or ""
        paper = views.find_paper(ws, pid)
        if paper is None:
            raise WorkspaceError(f"Workspace {ws.name!r} holds no paper {pid!r}.")
        return ws, paper

    def _int(request: Request, key: str) -> int | None:
        value = request.query_params.get(key)
        return int(value) if value and value.isdigit() else None

    async def cited_page(request: Request) -> Response:
        try:
            ws, paper = _paper(request)
        except WorkspaceError as exc:
            return refuse(request, str(exc))
        located = next(((k, n) for k in ("fig", "tab") if (n := _int(request, k)) is not None), None)
        # a figure or table not extracted yet is extracted now (seconds on a long paper): off the event loop
        data = await asyncio.to_thread(views.citation_page, ws, paper, _int(request, "page") or 0,
                                       _int(request, "claim"), located)
        if not data["page"]:
            return refuse(request, "Say which page: ?page=N.")
        return page(request, "page.html", **data)

    async def page_png(request: Request) -> Response:
        try:
            ws, paper = _paper(request)
            from agent_scientist.papers.layout import paper_dir

            path = await asyncio.to_thread(page_image, paper_dir(ws, str(paper["id"])), _int(request, "page") or 0)
        except (WorkspaceError, IndexError, OSError, RuntimeError) as exc:
            return PlainTextResponse(f"No page image: {exc}", 404)
        return FileResponse(path, media_type="image/png")

    async def paper_view(request: Request) -> Response:
        try:
            ws, paper = _paper(request)
        except WorkspaceError as exc:
            return refuse(request, str(exc))
        return page(request, "paper.html", **views.paper_page(ws, paper))

    async def file_view(request: Request) -> Response:
        """A file of a workspace (an experiment's plot, a PDF): resolved inside the home, never a folder."""
        try:
            ws = open_ws(request)
            target = resolve_inside(ws.root, request.query_params.get("path") or "")
            resolve_inside(home, str(target.relative_to(home.resolve())))  # and so inside the home
        except (WorkspaceError, Refused, ValueError) as exc:
            return PlainTextResponse(f"Refused: {exc}", 403)
        if not target.is_file():
            return PlainTextResponse("Refused: no such file (folders are not listed).", 404)
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind in ("text/html", "image/svg+xml", "application/xhtml+xml", "application/javascript", "text/javascript"):
            kind = "text/plain"  # a file the model wrote is shown, never run in our origin
        return FileResponse(target, media_type=kind)

    async def memory_view(request: Request) -> Response:
        try:
            ws = open_ws(request)
        except WorkspaceError as exc:
            return refuse(request, str(exc))
        query = (request.query_params.get("q") or "").strip()
        hits, error = [], ""
        if query:
            try:
                from agent_scientist.memory import open_memory

                store = open_memory(ws, config.settings)
                hits = await asyncio.to_thread(store.recall, query, 20)
            except Exception as exc:  # a memory that cannot open is said, not a crash
                error = " ".join(str(exc).split())[:300]
        notes, notes_error = config.notes.get(ws, config.settings)
        return page(request, "memory.html", name=ws.name, query=query, hits=hits, error=error or notes_error,
                    notes=notes or [], back=url("/ws", name=ws.name))

    async def events(request: Request) -> Response:
        """Server-sent events: each new line of steps.jsonl as its rendered step, the run's status, and the model
        calls in flight (inflight.json) whenever the run rewrites them."""
        try:
            ws = open_ws(request)
        except WorkspaceError as exc:
            return PlainTextResponse(str(exc), 404)
        offset = _int(request, "offset") or 0
        step_template, calls_template = env.get_template("step.html"), env.get_template("inflight.html")

        async def stream() -> Any:
            nonlocal offset
            position = int(request.query_params.get("n") or 0)
            last_status, started, pending = "", time.monotonic(), b""
            calls_seen: tuple[int, int, str] | None = None  # inflight.json's stamp and the status it was read under
            calls_html: str | None = None  # sent once at the start: the call the page showed may have ended since
            yield "retry: 1000\n\n"
            while time.monotonic() - started < STREAM_MAX_S:
                if await request.is_disconnected():
                    return
                size = ws.steps_path.stat().st_size if ws.steps_path.exists() else 0
                if size > offset:
                    with open(ws.steps_path, "rb") as fh:
                        fh.seek(offset)
                        chunk = fh.read(size - offset)
                    data = pending + chunk
                    lines = data.split(b"\n")
                    pending = lines.pop()  # a line still being written waits for its newline
                    offset = size - len(pending)
                    for raw in lines:
                        try:
                            record: StepRecord = json.loads(raw)  # a steps.jsonl line
                        except ValueError:
                            continue
                        if record.get("type") != "claim_check":
                            html = step_template.render(s=views.step_view(record, position))
                            yield f"event: step\nid: {offset}\ndata: {json.dumps({'html': html, 'offset': offset})}\n\n"
                        position += 1
                fresh = Workspace(ws.root, ws.name)  # workspace.json as it is now
                status: str
                try:
                    status, steps_done = fresh.live_status, int(fresh.meta.get("steps") or 0)
                except WorkspaceError:
                    status, steps_done = "unknown", 0
                shown = f"running, step {steps_done + 1}" if status == "running" else status
                if shown != last_status:
                    last_status = shown
                    yield f"event: status\ndata: {json.dumps({'status': status, 'text': shown})}\n\n"
                try:
                    stat = fresh.inflight_path.stat()
                    stamp = (stat.st_mtime_ns, stat.st_size, status)
                except OSError:
                    stamp = (0, 0, status)
                if stamp != calls_seen:  # the run wrote its calls in flight again (or its status changed)
                    calls_seen = stamp
                    html = calls_template.render(calls=views.inflight(fresh))
                    if html != calls_html:
                        calls_html = html
                        yield f"event: inflight\ndata: {json.dumps({'html': html})}\n\n"
                await asyncio.sleep(POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    async def eval_view(request: Request) -> Response:
        try:
            return page(request, "eval.html", **views.eval_page(home, request.query_params.get("name") or ""))
        except (WorkspaceError, ValueError) as exc:
            return refuse(request, str(exc))

    async def compare_view(request: Request) -> Response:
        q = request.query_params
        try:
            return page(request, "compare.html", **views.compare_page(home, q.get("a") or "", q.get("b") or ""))
        except (WorkspaceError, ValueError) as exc:
            return refuse(request, str(exc))

    async def run_action(request: Request) -> Response:
        """POST /run/start, /run/resume, /run/stop: only with --allow-runs, only with the CSRF token."""
        if not config.allow_runs:
            return refuse(request, "Runs from the page are off. Start the server with: agent-scientist serve --allow-runs",
                          403)
        form = await request.form()
        if str(form.get("csrf") or "") != request.scope["state"]["csrf"]:
            return refuse(request, "Refused: the form's CSRF token is missing or wrong; reload the page.", 403)
        action = request.path_params["action"]
        try:
            if action == "start":
                ws = runs.start(str(form.get("question") or ""), str(form.get("name") or "").strip())
            else:
                ws = Workspace.open(home, str(form.get("name") or ""))
                if action == "resume":
                    runs.resume(ws, str(form.get("instruction") or ""))
                elif action == "stop":
                    runs.stop(ws)
                else:
                    return refuse(request, f"No action {action!r}.")
        except WorkspaceError as exc:
            return refuse(request, str(exc), 409)
        return RedirectResponse(url("/ws", name=ws.name), 303)

    routes = [
        Route("/", home_view),
        Route("/ws", workspace_view),
        Route("/ws/page", cited_page),
        Route("/ws/page.png", page_png),
        Route("/ws/paper", paper_view),
        Route("/ws/file", file_view),
        Route("/ws/memory", memory_view),
        Route("/ws/events", events),
        Route("/eval", eval_view),
        Route("/eval/compare", compare_view),
        Route("/run/{action}", run_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("Refused: no such page.", 404)

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.runs = runs
    return Guard(app, config.token, config.host, config.port)
