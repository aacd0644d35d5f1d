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

from openclap.index.build import BuildOptions, build_index, update_index
from openclap.index.identity import ModelIdentity, model_fingerprint
from openclap.index.records import BuildReport, Hit, IndexedItem, SoundIndexError
from openclap.index.search import SoundIndex

__all__ = [
    "BuildOptions",
    "BuildReport",
    "Hit",
    "IndexedItem",
    "ModelIdentity",
    "SoundIndex",
    "SoundIndexError",
    "build_index",
    "model_fingerprint",
    "update_index",
]
