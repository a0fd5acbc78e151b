"""serve's questions: `POST /api/ask {"question": ..., "video"?: ID, "top"?: K}` answers from the server's scene index
as `scenestream ask` does (streams/video/ask.py), and `GET /ask` is a page with a box to ask it.

The LLM is the one the server's runs use for chapter titles and summaries: with `-o chapters.llm_endpoint=URL
-o chapters.llm_model=NAME` the answer is written by that model from the retrieved scenes, otherwise it quotes them.

Bounded like the other routes: the guard (guard.py) has already checked the token, the Host and the body (JSON, at
most max_body bytes) before this runs; here the question is at most MAX_QUESTION characters, `top` 1..MAX_TOP, the
video id as everywhere, unknown fields refused; at most ASKS_AT_ONCE questions are answered at once (each holds a
thread for the search and, with an LLM, a request of up to its timeout), more get a 429 instead of piling up. Every
refusal is a 4xx with one line; an LLM that fails after its retries is a 502 with one line."""
from __future__ import annotations

import asyncio
import secrets
import threading
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from scenestream.agents.errors import ConfigError
from scenestream.streams.server.pages import VIDEO_ID, own_run, page_csp
from scenestream.streams.video.ask import MAX_QUESTION, MAX_TOP, TOP, AskSettings, Asker

ASKS_AT_ONCE = 4

router = APIRouter()


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    video: str | None = Field(None, max_length=100, pattern=VIDEO_ID.pattern)
    top: int = Field(TOP, ge=1, le=MAX_TOP)


def ask_settings(options: list[str]) -> AskSettings:
    """The LLM of serve's `-o chapters.llm_*` options (checked as the chapters' settings), or offline."""
    from scenestream.streams.video.settings import SECTION, ChapterSettings

    mine = {}
    for pair in options or []:
        key, _, value = pair.partition("=")
        section, _, name = key.strip().partition(".")
        if section == SECTION and name:
            mine[name] = value
    c = ChapterSettings.of(mine)
    return AskSettings(llm_endpoint=c.llm_endpoint, llm_model=c.llm_model, llm_api_key_env=c.llm_api_key_env,
                       llm_timeout=c.llm_timeout).checked()


_made = threading.Lock()


def _asker(request: Request) -> Asker:
    """One Asker per app, over the index the server feeds (made at the first question: the client opens then)."""
    state = request.app.state
    with _made:
        if state.asker is None:
            state.asker = Asker(state.parts["indexer"].index, ask_settings(state.settings.options))
            state.ask_slots = asyncio.Semaphore(ASKS_AT_ONCE)
    return state.asker


@router.post("/api/ask")
async def ask(body: Question, request: Request):
    from scenestream.agents.chat import ChatError

    try:
        asker = _asker(request)
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from None
    slots: asyncio.Semaphore = request.app.state.ask_slots
    if slots.locked():
        raise HTTPException(429, f"{ASKS_AT_ONCE} questions are being answered; ask again in a moment")
    async with slots:
        try:
            answer = await asyncio.to_thread(asker.ask, body.question, body.video, body.top)
        except ConfigError as exc:  # an empty question after folding, a video the index does not hold
            raise HTTPException(400, str(exc)) from None
        except ChatError as exc:
            raise HTTPException(502, str(exc)) from None
    out = answer.as_dict()
    out_dir = request.app.state.settings.out
    for c in out["citations"]:
        folder = own_run(out_dir, c["video_id"])
        if folder is not None and (folder / "report.html").is_file():
            c["report"] = f"/runs/{c['video_id']}/report.html#v0-s{c['index']}"
    return out


@router.get("/ask", response_class=HTMLResponse)
def page():
    nonce = secrets.token_urlsafe(18)
    style = resources.files("scenestream.streams.outputs").joinpath("templates/style.css").read_text()
    html = PAGE.replace("{nonce}", nonce).replace("{style}", style).replace("{max}", str(MAX_QUESTION))
    return HTMLResponse(html, headers={"Content-Security-Policy": page_csp(nonce), "Cache-Control": "no-store"})


# The answer and the scenes are put in the page with textContent only: they are the index's (untrusted) text.
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>scenestream ask</title>
<style nonce="{nonce}">
{style}
form { display: flex; gap: .5rem; margin: .4rem 0; } form input { padding: .35rem .5rem; font: inherit; }
form input[name=question] { flex: 1 1 auto; } form input[name=video] { width: 12rem; }
button { font: inherit; padding: .35rem .8rem; } .error { color: #d2433b; } .answer { white-space: pre-wrap; }
.cites li { margin: .3rem 0; }
</style>
</head>
<body>
<header class="page"><h1>scenestream ask</h1>
<p class="muted small"><a href="/">live page</a> &middot; questions are answered from the scenes in this server's
index, with the scenes that show it</p></header>
<form id="ask"><input name="question" maxlength="{max}" required aria-label="question"
 placeholder="ask the videos: what is said, shown, written or heard"><input name="video" aria-label="video id"
 placeholder="video id (all)"><button>Ask</button></form>
<p id="answer" class="answer"></p>
<p id="meta" class="small muted"></p>
<ol id="cites" class="cites"></ol>
<script nonce="{nonce}">
"use strict";
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function clock(s) {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = String(s % 60).padStart(2, "0");
  return h ? h + ":" + String(m).padStart(2, "0") + ":" + r : m + ":" + r;
}
document.getElementById("ask").addEventListener("submit", async e => {
  e.preventDefault();
  const answer = document.getElementById("answer"), meta = document.getElementById("meta");
  const cites = document.getElementById("cites");
  const body = {question: e.target.question.value};
  if (e.target.video.value.trim()) body.video = e.target.video.value.trim();
  answer.className = "answer muted"; answer.textContent = "…"; meta.textContent = ""; cites.replaceChildren();
  const res = await fetch("/api/ask", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify(body)});
  const out = await res.json();
  if (!res.ok) { answer.className = "answer error"; answer.textContent = out.detail || res.statusText; return; }
  answer.className = "answer"; answer.textContent = out.answer;
  meta.textContent = out.citations.length + " of " + out.retrieved + " scenes cited, " +
    (out.answered_by === "retrieval" ? "quoted from the search" : "written by " + out.answered_by) +
    (out.dropped ? "; " + out.dropped + " citation(s) of scenes not retrieved dropped" : "");
  out.citations.forEach(c => {
    const li = el("li", "cite");
    li.dataset.video = c.video_id; li.dataset.index = c.index;
    const a = el(c.report ? "a" : "span", null, "[" + c.n + "] " + c.video_id + " #" + c.index + " · " +
                 clock(c.start) + "-" + clock(c.end));
    if (c.report) a.href = c.report;
    li.append(a, " ", el("span", "muted small", c.score.toFixed(4)));
    cites.append(li);
  });
});
</script>
</body>
</html>
"""

__all__ = ["ASKS_AT_ONCE", "Question", "ask_settings", "router"]
