"""Run as a subprocess by test_index_resume: build an index with a checkpoint, committing after every
file, and SIGKILL this process as it starts storing file number KILL_AT (as a crash or power cut would).

usage: python killed_build_run.py CHECKPOINT FOLDER INDEX KILL_AT
"""

from __future__ import annotations

import os
import signal
import sys

from openclap import create_model
from openclap.index import BuildOptions, build_index, store

checkpoint, folder, out, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
real_add_file = store.add_file
stored = 0


def add_file_then_die(*args, **kwargs):  # type: ignore[no-untyped-def]
    global stored
    stored += 1
    if stored == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_add_file(*args, **kwargs)


store.add_file = add_file_then_die
model = create_model(checkpoint=checkpoint)
build_index([folder], out, model, checkpoint=checkpoint, options=BuildOptions(commit_every=1, workers=1))
print("not killed", file=sys.stderr)
sys.exit(3)
