"""The Chat tab's collections: the retrieval process (``engine.rag.service``), loading a
collection and its embedder off the event loop, the picker of collections on disk, and
the index dialog (F8). ChatView (``chat.py``) asks; this part keeps the collection
ready."""

from __future__ import annotations

from textual.widgets import Select

from llmbench.engine.errors import LlmbenchError
from llmbench.engine.jobs import Progress
from llmbench.engine.rag.collection import list_collections
from llmbench.engine.rag.demo import DEMO_COLLECTION
from llmbench.engine.runtime.events import Channel

from ..bridge import Bridge
from ..messages import Ready
from ..widgets.passages import PassagesPanel
from ..workers import engine_work


def collection_names() -> list[str]:
    names = [c["name"] for c in list_collections() if "error" not in c]
    return names if DEMO_COLLECTION in names else [DEMO_COLLECTION, *names]


class ChatCollections:
    """What ChatView does about its collection: ``collection`` (the name picked),
    ``ready`` (its facts once loaded), ``client`` (the retrieval process)."""

    def rag_client(self):
        if self.client is None:
            from llmbench.engine.rag.service import RagClient

            self.client = RagClient()
        return self.client

    def warm_up(self) -> None:
        """Load the collection and the embedder in the background (the tab was opened)."""
        if self.ready is None or self.ready.get("name") != self.collection:
            self.open_collection(self.collection)

    @engine_work("chat-open")
    def open_collection(self, name: str) -> None:
        self._open(name)

    def _open(self, name: str) -> dict | None:
        """Load a collection and the embedder in the retrieval process (in a worker thread):
        its progress comes through the bridge, the outcome as ``Ready("collection")``."""
        bridge = Bridge(self.post_message)
        bridge.feed(Channel.RAG, Progress("load", 0, 0, f"{name}: loading the collection and the embedder…"))
        try:
            info = self.rag_client().open(name, progress=lambda p: bridge.feed(Channel.RAG, p))
        except LlmbenchError as exc:
            self.post_message(Ready("collection", name, f"{name}: {exc}"))
            return None
        bridge.flush()
        self.post_message(Ready("collection", info))
        return info

    def on_ready(self, message: Ready) -> None:
        if message.what == "collection" and message.error:
            self.status(message.error)
        elif message.what == "collection" and message.value["name"] == self.collection:
            info = self.ready = message.value
            self.status(
                f"{info['name']}: {info['files']} files · {info['chunks']} chunks · {info['index']} index · "
                f"{info['embedder']} · ready"
            )
        elif message.what == "collections":
            names, select = message.value
            widget = self.query_one("#chat-collection", Select)
            widget.set_options([(n, n) for n in names])
            wanted = select if select in names else self.collection if self.collection in names else DEMO_COLLECTION
            widget.value = wanted

    async def on_select_changed(self, event: Select.Changed) -> None:
        """Another collection picked (a mixin's handler: ``@on`` selectors are the widget class's own)."""
        if event.select.id != "chat-collection":
            return
        if event.value != self.collection and event.value is not Select.BLANK:
            self.collection = str(event.value)
            self.app.remember(chat_collection=self.collection)
            self.ready = None
            await self.query_one(PassagesPanel).clear()  # another collection's passages are not these
            self.open_collection(self.collection)

    @engine_work("chat-collections")
    def refresh_collections(self, select: str | None = None) -> None:
        """The collections on disk, read in a worker, then shown in the picker."""
        self.post_message(Ready("collections", (collection_names(), select)))

    def action_index(self) -> None:
        from ..modals.index_dialog import IndexDialog

        def done(name: str | None) -> None:
            if name:
                self.refresh_collections(name)
                if name == self.collection:
                    self.ready = None
                    self.open_collection(name)

        self.app.push_screen(IndexDialog(self.rag_client(), self.collection), done)
