"""A persistent, searchable index of a sound collection: FAISS vectors + SQLite metadata.

```python
from openclap.index import SoundIndex, build_index, update_index

build_index(["~/sounds"], "sounds.idx", model)          # embeds every file, window by window
update_index("sounds.idx")                              # only new / changed files; removed ones dropped
with SoundIndex.open("sounds.idx") as index:            # loads the model the index records
    index.search_text("a door creaks open", top_k=5)    # [Hit(item_id, path, start, end, score)]
```
FAISS is imported only when vectors are built or read, so importing this package stays cheap.
"""

from openclap._lazy import lazy_exports

_EXPORTS = {
    "BuildOptions": "openclap.index.build",
    "build_index": "openclap.index.build",
    "update_index": "openclap.index.build",
    "index_precision": "openclap.index.build",
    "ModelIdentity": "openclap.index.identity",
    "model_fingerprint": "openclap.index.identity",
    "BuildReport": "openclap.index.records",
    "Hit": "openclap.index.records",
    "IndexedItem": "openclap.index.records",
    "SoundIndexError": "openclap.index.records",
    "SoundIndex": "openclap.index.search",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)  # names imported on first use (torch, FAISS)
__all__ = sorted(_EXPORTS)
