"""Find Debian packages that hold audio files, without downloading any package.

Debian publishes, per suite, an index of every file in every package (``Contents-all.gz`` for the
architecture-independent packages, where game and media data live; about 34 MB). This script reads
it and lists the packages by how many audio files (.wav .ogg .oga .flac .mp3 .opus) they hold and how
many of those have a name matching ``--keywords``, with example names: the way the everyday-sound
sources of ``prepare_data.py`` (scratch, qabcs-data, ...) were found. Audio inside archives (zip, pk3)
is not visible in the index.

``--repo`` ranks the folders of GitHub repositories instead (a fetch mirror's git dir or a plain clone;
see git_sources.py), the way the GitHub sources were sized; their licences still have to be read.

Usage:
    .venv/bin/python recipes/default_model/find_sources.py --contents /tmp/Contents-all.gz
    .venv/bin/python recipes/default_model/find_sources.py --download /tmp/Contents-all.gz \\
        --keywords "sneez|cough|baby|snor|toilet|vacuum" --top 30
    .venv/bin/python recipes/default_model/find_sources.py --repo /work/.mirror/AntumMT+mod-sounds/repo
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

AUDIO = re.compile(r"\.(wav|ogg|oga|flac|mp3|opus)$", re.IGNORECASE)
DEFAULT_URL = "http://deb.debian.org/debian/dists/bookworm/main/Contents-all.gz"


def audio_files(lines: Iterable[str]) -> Iterable[tuple[str, str]]:
    """(path, package) for every audio file of a Contents index (``PATH  section/pkg[,section/pkg]``)."""
    for line in lines:
        path, _, owners = line.rstrip("\n").rpartition(" ")
        path = path.strip()
        if not path or not AUDIO.search(path):
            continue
        for owner in owners.split(","):
            yield path, owner.rsplit("/", 1)[-1]


def rank(
    files: Iterable[tuple[str, str]], keywords: re.Pattern[str] | None
) -> list[tuple[str, int, int, list[str]]]:
    """Packages as (name, audio files, keyword hits, up to 5 hit names), most hits first."""
    total: Counter[str] = Counter()
    hits: defaultdict[str, list[str]] = defaultdict(list)
    for path, package in files:
        total[package] += 1
        name = path.rsplit("/", 1)[-1]
        if keywords is not None and keywords.search(name):
            hits[package].append(name)
    order = sorted(total, key=lambda p: (-len(hits[p]), -total[p], p))
    return [(p, total[p], len(hits[p]), hits[p][:5]) for p in order]


def repo_audio_files(repo: Path) -> Iterable[tuple[str, str]]:
    """(path, "<repo>:<folder>") for every audio file of a repository, to rank folders like packages."""
    from git_sources import list_files

    name = repo.parent.name if repo.name == "repo" else repo.name
    for path in list_files(repo):
        if AUDIO.search(path):
            yield path, f"{name}:{path.rsplit('/', 1)[0] if '/' in path else '.'}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contents", type=Path, help="a local Contents-*.gz file")
    ap.add_argument("--download", type=Path, metavar="PATH", help=f"fetch {DEFAULT_URL} to PATH first")
    ap.add_argument("--url", default=DEFAULT_URL, help="Contents index to fetch with --download")
    ap.add_argument("--keywords", default="", help="regular expression matched against file names")
    ap.add_argument("--top", type=int, default=40, help="packages to print (default: 40)")
    ap.add_argument("--repo", type=Path, nargs="+", help="rank the folders of these GitHub repositories")
    args = ap.parse_args(argv)
    keywords = re.compile(args.keywords, re.IGNORECASE) if args.keywords else None
    if args.repo:
        files = [f for repo in args.repo for f in repo_audio_files(repo)]
        for folder, total, n_hits, examples in rank(files, keywords)[: args.top]:
            print(f"{folder:60s} {total:6d} audio  {n_hits:5d} hits  {' '.join(examples)}")
        return 0
    if args.download is not None:
        urllib.request.urlretrieve(args.url, args.download)
        args.contents = args.download
    if args.contents is None:
        ap.error("give --contents FILE, --download PATH or --repo DIR")
    with gzip.open(args.contents, "rt", encoding="utf-8", errors="replace") as fh:
        table = rank(audio_files(fh), keywords)
    for package, total, n_hits, examples in table[: args.top]:
        print(f"{package:40s} {total:6d} audio  {n_hits:5d} hits  {' '.join(examples)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
