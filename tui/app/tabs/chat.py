"""The Chat tab: ask a collection; passages on the side, cited answers streaming in.

With a model B the same question and the same passages go to both models side by
side (a RAG duel). Retrieval runs in a child process that keeps the embedder loaded
(``engine.rag.service``); each model runs in its own worker, as in the Duel tab.
"""

from __future__ import annotations

import threading

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static
from textual.worker import get_current_worker

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.jobs import Progress
from llmbench.engine.rag.chat import RagChat
from llmbench.engine.rag.demo import DEMO_COLLECTION
from llmbench.engine.rag.prompt import citations
from llmbench.engine.rag.retrieve import Retrieval
from llmbench.engine.runtime.events import SIDES, Done, EvalRecord, Prompt, Verdict
from llmbench.engine.runtime.params import GenParams

from ..bridge import Bridge
from ..messages import EngineEvent, ReplayReset, RunFinished, TokenBatch
from ..widgets.contestant import ContestantPane, apply_side_event
from ..widgets.model_input import ModelInput
from ..widgets.passages import PassagesPanel
from ..widgets.replay_bar import Replayable, ReplayBar
from ..workers import UI_CORES, ReportsWorkerErrors, RunsModels, engine_work, in_background
from .chat_collections import ChatCollections

PASSAGES_BESIDE_COLS = 110  # a RAG duel narrower than this shows the passages on F9


class ChatView(ChatCollections, ReportsWorkerErrors, RunsModels, Replayable, Vertical):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", priority=True),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("f8", "index", "Index files"),  # F6 is the Bench tab
        Binding("f7", "evaluate", "Evaluate"),
        Binding("ctrl+s", "stats", "Stats", show=False),
        Binding("f9", "passages", "Passages"),  # (Ctrl+E is the end of the line in an input)
    ]

    def __init__(self, params: GenParams, config: dict, **kwargs):
        super().__init__(**kwargs)
        self.collection = config.get("chat_collection") or DEMO_COLLECTION
        self.spec_a = config.get("chat_a") or "smollm2"
        self.spec_b = config.get("chat_b") or ""
        self.k = max(1, min(50, config.get("chat_k") or 4))  # as the field allows
        self.params = params
        self.client = None  # RagClient, started on first use
        self.chat: RagChat | None = None
        self._chat_key: tuple | None = None
        self._cancel_asked = threading.Event()  # Esc before the chat exists (loading, first retrieval)
        self.ready: dict | None = None
        self.last_session: str | None = None
        self.last_retrieval: Retrieval | None = None
        self._replay_models: dict[str, str] = {}
        self.passages_toggled = False  # F9: the other view of the passages than the width's default

    def compose(self) -> ComposeResult:
        with Horizontal(id="chat-bar"):
            yield Label("Docs")
            yield Select(
                [(self.collection, self.collection)], value=self.collection, allow_blank=False, id="chat-collection"
            )
            yield Label("A")
            yield ModelInput(self.spec_a, id="chat-a", placeholder="model")
            yield Label("B")
            yield ModelInput(self.spec_b, id="chat-b", placeholder="optional: a RAG duel")
            yield Label("k")
            yield Input(str(self.k), id="chat-k", type="integer")
        with Horizontal(id="chat-main"):
            with Horizontal(id="answers"):
                yield ContestantPane("a")
                yield ContestantPane("b")
            yield PassagesPanel(id="passages")
        yield Static("", id="chat-status")
        yield ReplayBar(self, id="replay")
        yield Input(
            placeholder="Ask about the documents · Enter asks · the chat remembers (^N: new)",
            id="chat-question",
        )

    def on_mount(self) -> None:
        self.single(not self.spec_b)
        for side, spec in (("a", self.spec_a), ("b", self.spec_b)):
            self._pane(side).set_title(spec or "—")
            self._pane(side).status = "ready"
        self.status(f"{self.collection}: not loaded yet (the embedder loads with the first question)")
        self.refresh_collections()

    def status(self, text: str) -> None:
        self.query_one("#chat-status", Static).update(text)

    def single(self, single: bool) -> None:
        """One model (``single``) or a RAG duel: the panes, and where the passages go."""
        self.set_class(single, "-single")
        self._place_passages()

    def on_resize(self) -> None:
        self._place_passages()

    def action_passages(self) -> None:
        self.passages_toggled = not self.passages_toggled
        self._place_passages()

    def _place_passages(self) -> None:
        """Beside the answers; but a RAG duel narrower than PASSAGES_BESIDE_COLS has no room for
        three columns: the passages are hidden there, and F9 shows them instead of the answers.
        Wider, F9 hides them and gives the answers the width."""
        crowded = not self.has_class("-single") and self.size.width < PASSAGES_BESIDE_COLS
        self.set_class(crowded != self.passages_toggled, "-no-passages")
        self.set_class(crowded and self.passages_toggled, "-passages-only")

    def _pane(self, side: str) -> ContestantPane:
        return self.query_one(f"#pane-{side}", ContestantPane)

    @on(Input.Changed, "#chat-b")
    def b_changed(self, event: Input.Changed) -> None:
        self.single(not event.value.strip())
        self._pane("b").set_title(event.value.strip() or "—")

    @on(Input.Changed, "#chat-a")
    def a_changed(self, event: Input.Changed) -> None:
        self._pane("a").set_title(event.value.strip() or "—")

    # ------------------------------------------------------------ actions

    async def action_cancel(self) -> None:
        if await self.close_replay():
            return
        if self.running:
            self._cancel_asked.set()
            if self.chat is not None:
                self.chat.cancel()
            for pane in self.query(ContestantPane):
                if not pane.finished:  # a side already done keeps its answer and its status
                    pane.status = "cancelling…"

    async def action_new_chat(self) -> None:
        if self.running:
            self.notify("An answer is streaming: Esc cancels it first.", severity="warning")
            return
        if self.chat is not None:
            self.chat.reset()
        for pane in self.query(ContestantPane):
            pane.reset()
            pane.status = "new conversation"
        await self.query_one(PassagesPanel).clear()  # the old question's passages go with it

    def action_stats(self) -> None:
        """All the stats, or two lines of them (folded by default below 36 rows)."""
        for pane in self.query(ContestantPane):
            pane.toggle_stats()

    def action_evaluate(self) -> None:
        from ..modals.eval import EvalScreen

        a, b = self._specs()
        self.app.push_screen(EvalScreen(self.rag_client(), self.collection, a, b, self.params, self._k()))

    def _specs(self) -> tuple[str, str | None]:
        a = self.query_one("#chat-a", Input).value.strip() or "smollm2"
        b = self.query_one("#chat-b", Input).value.strip() or None
        return a, b

    def _k(self) -> int:
        try:
            return max(1, min(50, int(self.query_one("#chat-k", Input).value or 4)))
        except ValueError:
            return 4

    @on(Input.Submitted, "#chat-question")
    async def ask(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self.running:
            self.notify("An answer is streaming: Esc cancels it first.", severity="warning")
            return
        if self.query_one(ReplayBar).active:
            await self.query_one(ReplayBar).stop()
            await self.action_new_chat()
        a, b = self._specs()
        k = self._k()
        self.app.remember(chat_a=a, chat_b=b or "", chat_k=k)
        event.input.value = ""
        self.running = True
        self._cancel_asked.clear()
        if self.ready is not None and self.ready.get("name") == self.collection:
            self.status(f"{self.collection}: retrieving… (Esc cancels)")
        self.run_chat(question, self.collection, a, b, k, self.params)

    # ------------------------------------------------------------ the engine, in a thread

    @engine_work("chat")
    def run_chat(self, question: str, collection: str, a: str, b: str | None, k: int, params: GenParams) -> None:
        worker = get_current_worker()
        key = (collection, a, b, k, params)
        if self.chat is not None and self._chat_key != key:
            self.chat.close()  # other models, collection or parameters: start afresh
            self.chat = None
        error = None
        try:
            if self.chat is None:
                if (self.ready is None or self.ready.get("name") != collection) and self._open(collection) is None:
                    return
                self.chat = RagChat(
                    collection,
                    a,
                    b,
                    params,
                    retriever=self.rag_client().retriever(collection),
                    k=k,
                    reserve_cores=UI_CORES,
                )
                self._chat_key = key
            if self._cancel_asked.is_set():  # Esc while the collection loaded: the question ends at once
                self.chat.cancel()
            Bridge(self.post_message).pump(self.chat.ask(question))
        except LlmbenchError as exc:
            error = str(exc)
        session = self.chat.duel.session_path if self.chat else None
        if not worker.is_cancelled:
            self.post_message(RunFinished(str(session) if session else None, error))

    # ------------------------------------------------------------ messages from the bridge

    async def on_token_batch(self, message: TokenBatch) -> None:
        await self._pane(message.channel).append(message.text, message.count)

    async def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        if isinstance(event, Progress):
            rate = f" · {event.rate:,.0f} chunks/s" if event.rate else ""
            self.status(
                event.detail
                if event.stage == "load"
                else f"{self.collection}: building the index · {event.stage} {event.done}/{event.total}{rate}"
            )
        elif isinstance(event, Retrieval):
            self.last_retrieval = event
            await self.query_one(PassagesPanel).show(event)
            t = event.timings_ms
            self.status(
                f"{self.collection}: retrieved {len(event.hits)} passages in {t.get('total', 0):.0f} ms "
                f"(embed {t.get('embed', 0):.0f}, bm25 {t.get('bm25', 0):.1f}, dense {t.get('dense', 0):.1f})"
            )
        elif isinstance(event, Verdict):
            if event.text:
                self.status(event.text)
        elif isinstance(event, Prompt):
            for side in self._sides():
                await self._pane(side).new_turn(f"**You:** {event.prompt}")
        elif isinstance(event, EvalRecord):  # a replayed evaluation: each answer's score
            for row in event.rows:
                if isinstance(row, dict) and row.get("cosine") is not None and row.get("side") in self._sides():
                    await self._pane(row["side"]).append(f"\n\n*cosine to the reference {row['cosine']:.3f}*", 0)
        elif message.channel in SIDES:
            await self._show(message.channel, event)

    def _sides(self) -> list[str]:
        return ["a", "b"] if not self.has_class("-single") else ["a"]

    async def _show(self, side: str, event: object) -> None:
        pane = self._pane(side)
        mode = self.chat.duel.mode if self.chat is not None else "sequential"  # B waits for A in sequential
        await apply_side_event({s: self._pane(s) for s in self._sides()}, side, event, mode, self.notify)
        if isinstance(event, Done) and self.last_retrieval is not None:
            hits = self.last_retrieval.hits
            cited = citations(pane.answer, len(hits))
            self.query_one(PassagesPanel).mark_cited(cited)
            if cited:
                sources = ", ".join(f"[{i}] {hits[i - 1].where}" for i in cited)
                await pane.append(f"\n\n*Sources: {sources}*", 0)

    def on_run_finished(self, message: RunFinished) -> None:
        self.running = False
        self.last_session = message.session
        if message.error:
            self.notify(message.error, severity="error", timeout=10)
            self.status(message.error)

    def worker_failed(self, worker) -> None:
        self.running = False

    # ------------------------------------------------------------ replay of a recorded session

    async def on_replay_reset(self, message: ReplayReset) -> None:
        self.single("b" not in self._replay_models)
        self.reset_replay_panes()
        self.last_retrieval = None
        await self.query_one(PassagesPanel).clear()

    def on_replay_bar_closed(self, message: ReplayBar.Closed) -> None:
        b = self.query_one("#chat-b", Input).value.strip()
        self.single(not b)
        self.query_one("#chat-question", Input).focus()

    def on_unmount(self) -> None:
        chat, client = self.chat, self.client
        if chat is not None or client is not None:  # joins processes: not on the event loop
            in_background(lambda: [x.close() for x in (chat, client) if x is not None], "close-chat")
