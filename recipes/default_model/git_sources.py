"""Everyday-sound recordings from public GitHub repositories, with a licence per file.

A repository is read either from a bare git directory (the search tool's ``fetch`` mirror,
``DIR/owner+name/repo``; files are read at the pinned commit with ``git archive``) or from a plain clone
(``DIR/owner/name``, ``DIR/name`` or ``DIR/owner+name``; files are read from the work tree as they are).
Each file's licence comes from the repository's own credits; a file whose licence is non-commercial,
unknown or missing is never used.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yamnet_captions import read_repo_file

# licences the shipped corpus may use (an NC, ND or unknown licence never enters)
_USABLE = re.compile(r"^(CC0|Public Domain|CC BY(-SA)?( [1-4]\.0)?|ODbL 1\.0 / DbCL 1\.0)$")


@dataclass(frozen=True)
class GitSource:
    """A public GitHub repository whose files hold recordings."""

    repo: str  # owner/name
    commit: str  # the commit read from a git directory (a clone is read as it is)
    include: str  # regex on the path inside the repository
    # a fixed licence; "table:<file>": one credits table for the repository; "folder-table:<file name>":
    # a credits table in each sound's folder (see parse_license_table)
    license: str
    hint: str = ""  # words added to every file's name when describing it (captions.py)
    exclude: str = r""
    cap_per_key: int = 40  # files per file-name concept, as for Debian sources

    def key(self) -> str:
        return "gh-" + self.repo.split("/")[1].lower()


GIT_SOURCES: tuple[GitSource, ...] = (
    # ~200 named everyday sounds (animals, vehicles, doors, bells, tools, weather, footsteps); sounds/ holds
    # the mod's encodings, sounds_src/ the originals of the same recordings (not taken twice)
    GitSource(
        "AntumMT/mod-sounds",
        "a002ea8e3b254081101ebe5372bdfe4e473dce48",
        include=r"^sounds/sounds_[^/]+\.ogg$",
        license="table:sources.md",
    ),
    # Cataclysm: DDA's CC sound pack: doors, weather, engines, tools, glass, footsteps, guns; a credits.md
    # table (file, author, licence, link) in every folder
    GitSource(
        "Fris0uman/CDDA-Soundpacks",
        "88586bb600eae4b053a8928bddbd5371d0b1ecc6",
        include=r"^sound/CC-Sounds/.+\.ogg$",
        license="folder-table:credits.md",
    ),
    # Dynamic Surroundings' ambient recordings (birds, crows, rooster, dog barks, frogs, crickets, thunder,
    # ...): CREDITS.md credits sound events, sounds.json lists each event's files; only files whose every
    # crediting event lists usable licences are taken (the 120 uncredited events, footsteps mostly, never)
    GitSource(
        "OreCruncher/DynamicSurroundings",
        "93040490bef8591a99c25aa154098a97ab271edd",
        include=r"^src/main/resources/assets/dsurround/sounds/ambient/.+\.ogg$",
        license="events:CREDITS.md|src/main/resources/assets/dsurround/sounds.json",
    ),
    # the Donate-a-Cry corpus, cleaned: 457 recordings of crying babies, by the parent-reported reason
    GitSource(
        "gveres/donateacry-corpus",
        "6baf5aca0460964ad072653585837f968a87c2af",
        include=r"^donateacry_corpus_cleaned_and_updated_data/[a-z_]+/[^/]+\.wav$",
        license="ODbL 1.0 / DbCL 1.0",
        hint="baby crying",
        cap_per_key=100,
    ),
)


def find_repo(root: Path, repo: str) -> Path | None:
    """Where ``owner/name`` lies under ``root``: a fetch mirror's git dir first, then a clone."""
    owner, name = repo.split("/")
    for cand in (
        root / f"{owner}+{name}" / "repo",
        root / f"{owner}+{name}",
        root / owner / name,
        root / name,
    ):
        if (cand / "HEAD").is_file() or (cand / ".git").exists() or (cand / "README.md").is_file():
            return cand
    return None


def is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def list_files(path: Path, commit: str = "HEAD") -> list[str]:
    """Every file's path inside the repository (a git dir at ``commit``; a clone's work tree as it is)."""
    if not is_git_dir(path):
        out = []
        for dirpath, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if d != ".git"]
            out += [os.path.relpath(os.path.join(dirpath, f), path).replace(os.sep, "/") for f in files]
        return sorted(out)
    names = subprocess.run(
        ["git", "--git-dir", str(path), "ls-tree", "-r", "-z", "--name-only", commit],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(n for n in names.split("\0") if n)


def iter_files(path: Path, commit: str, include: re.Pattern[str]) -> Iterator[tuple[str, bytes]]:
    """(path inside the repository, bytes) of the matching files, in path order."""
    wanted = [n for n in list_files(path, commit) if include.search(n)]
    if not is_git_dir(path):
        for rel in wanted:
            yield rel, (path / rel).read_bytes()
        return
    if not wanted:
        return
    archive = subprocess.run(
        ["git", "--git-dir", str(path), "archive", "--format=tar", commit, "--", *wanted],
        capture_output=True,
    )
    if archive.returncode != 0:  # a mirror may list its largest files without holding them
        yield from _file_by_file(path, commit, wanted)
        return
    tar = archive.stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        members = sorted((m for m in tf.getmembers() if m.isfile()), key=lambda m: m.name)
        for m in members:
            fh = tf.extractfile(m)
            if fh is not None:
                yield m.name, fh.read()


def _file_by_file(path: Path, commit: str, wanted: list[str]) -> Iterator[tuple[str, bytes]]:
    """The files one by one; one whose content the git dir does not hold is named and skipped."""
    for rel in wanted:
        blob = subprocess.run(
            ["git", "--git-dir", str(path), "cat-file", "blob", f"{commit}:{rel}"], capture_output=True
        )
        if blob.returncode != 0:
            print(
                f"skipped {rel}: not in {path} ({blob.stderr.decode(errors='replace').strip()})",
                file=sys.stderr,
            )
            continue
        yield rel, blob.stdout


def normalise_license(text: str) -> str:
    """Spelling variants: "**CC0 1.0**", "CC 0", "Creative Commons 0" -> "CC0"; "CC-BY" -> "CC BY"."""
    t = re.sub(r"\s+", " ", text.replace("*", "")).strip()
    t = re.sub(r"^CC BY-(\d)", r"CC BY \1", re.sub(r"^CC-BY", "CC BY", t))
    if re.fullmatch(r"CC ?0( 1\.0)?|Creative Commons 0", t):
        return "CC0"
    return {"Public domain": "Public Domain"}.get(t, t)


def usable(licence: str) -> bool:
    return bool(_USABLE.match(licence)) and "NC" not in licence and "ND" not in licence


def parse_license_table(markdown: str) -> list[tuple[str, str]]:
    """(file-name glob, licence) rows of a credits table such as mod-sounds' sources.md.

    A table's header names the file prefix ("Filename (sounds_node_) / Source"); each row's first cell
    is ``[glob][ref]`` or ``[glob]`` (or a plain file name, as in CDDA-Soundpacks' per-folder credits.md);
    the licence is the column headed "License".
    """
    rows: list[tuple[str, str]] = []
    prefix, col = "", -1
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            continue
        if cells[0].lower().replace(" ", "").startswith("filename"):
            m = re.search(r"\((\w+)\)", cells[0])
            prefix = m.group(1) if m else ""
            col = next((i for i, c in enumerate(cells) if c.lower() == "license"), -1)
            continue
        m = re.match(r"^\[(.+?)\](?:\[[^\]]*\])?(\*?)$", cells[0]) or re.match(r"^([\w.-]+)()$", cells[0])
        if m and 0 <= col < len(cells) and not set(m.group(1)) <= set("-"):
            glob = re.sub(r"\.(ogg|wav|flac|mp3)$", "", m.group(1), flags=re.IGNORECASE)
            rows.append((prefix + glob + m.group(2), normalise_license(cells[col])))
    return rows


def _range(m: re.Match[str]) -> str:
    lo, hi = m.group(1), m.group(2)
    return "(" + "|".join(str(i).zfill(len(lo)) for i in range(int(lo), int(hi) + 1)) + ")"


def glob_regex(glob: str) -> re.Pattern[str]:
    """A credits glob as a regex: "*" any text, "[02-03]" a numeric range, "[1-2]" one digit of a range;
    a trailing ".N" variant number of the file name is allowed ("lava_cool" matches "lava_cool.2")."""
    parts = re.split(r"(\[\d+-\d+\]|\*)", glob)
    out = []
    for part in parts:
        m = re.fullmatch(r"\[(\d+)-(\d+)\]", part)
        out.append(_range(m) if m else ".*" if part == "*" else re.escape(part))
    return re.compile("".join(out) + r"(\.\d+)?")


def license_lookup(src: GitSource, path: Path) -> Callable[[str], str | None]:
    """A function from a file's path to its licence, or None where it has none usable."""
    if src.license.startswith("folder-table:"):
        tables: dict[str, list[tuple[str, str]]] = {}

        def table_of(rel: str) -> list[tuple[str, str]]:
            folder = rel.rsplit("/", 1)[0]
            if folder not in tables:
                try:
                    text = read_repo_file(path, f"{folder}/{src.license[13:]}", src.commit).decode(
                        "utf-8", "replace"
                    )
                except FileNotFoundError:
                    text = ""
                tables[folder] = parse_license_table(text)
            return tables[folder]

        return lambda rel: _licence_in(table_of(rel), rel)
    if src.license.startswith("events:"):
        credits, sounds = src.license[7:].split("|")
        read = lambda rel: read_repo_file(path, rel, src.commit).decode("utf-8", "replace")  # noqa: E731
        by_file = event_licences(read(credits), json.loads(read(sounds)), sounds.rsplit("/", 1)[0])
        return lambda rel: by_file.get(rel)
    if not src.license.startswith("table:"):
        return lambda rel: src.license if usable(src.license) else None
    table = parse_license_table(read_repo_file(path, src.license[6:], src.commit).decode("utf-8", "replace"))
    return lambda rel: _licence_in(table, rel)


def event_licences(credits: str, sounds: dict, assets: str) -> dict[str, str]:
    """File -> licence from event credits (Dynamic Surroundings' CREDITS.md: ``*dsurround:a / dsurround:b*``
    headings, each followed by ``License: ...`` lines) and a Minecraft ``sounds.json`` (event -> files under
    ``assets/sounds``); a file is usable when every licence of every event crediting it is."""
    per_event: dict[str, list[str]] = {}
    events: list[str] = []
    for line in credits.splitlines():
        head = re.fullmatch(r"\*(dsurround:[^*]+)\*", line.strip())
        if head:
            events = [
                e.strip().removeprefix("dsurround:").removeprefix("fs.") for e in head.group(1).split("/")
            ]
        for lic in re.findall(r"License: ([^<]+)", line):
            for ev in events:
                per_event.setdefault(ev, []).append(_credit_licence(lic))
    per_file: dict[str, set[str]] = {}
    for ev, entry in sounds.items():
        for snd in entry.get("sounds", []):
            name = (snd["name"] if isinstance(snd, dict) else snd).split(":", 1)[-1]
            rel = f"{assets}/sounds/{name}.ogg"
            per_file.setdefault(rel, set()).update(per_event.get(ev, ["none"]))
    return {rel: " + ".join(sorted(lics)) for rel, lics in per_file.items() if all(map(usable, lics))}


def _credit_licence(text: str) -> str:
    t = normalise_license(text)
    if re.search(r"non-?commercial", t, re.IGNORECASE):
        return "CC BY-NC"
    m = re.fullmatch(r"(Creative Commons )?Attributions?( (\d\.\d))?( Unported)?", t)
    return ("CC BY" + (f" {m.group(3)}" if m.group(3) else "")) if m else t


def _licence_in(table: list[tuple[str, str]], rel: str) -> str | None:
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", rel.rsplit("/", 1)[-1])
    for glob, licence in table:
        if glob_regex(glob).fullmatch(stem):
            return licence if usable(licence) else None
    return None


def extract(src: GitSource, path: Path, ex: Any, audio_ext: tuple[str, ...]) -> str:
    """Feed a repository's usable audio files to ``ex.add`` (prepare_data's Extractor); the licence summary.

    ``orig`` is ``<name>/<path inside the repository>`` (describe() drops the top folder, as for a package).
    """
    include = re.compile(src.include)
    exclude = re.compile(src.exclude, re.IGNORECASE) if src.exclude else None
    lookup = license_lookup(src, path)
    licences: Counter[str] = Counter()
    for rel, raw in iter_files(path, src.commit, include):
        if not rel.lower().endswith(audio_ext) or (exclude is not None and exclude.search(rel)):
            continue
        licence = lookup(rel)
        if licence is None:
            ex.stats["no_usable_license"] += 1
            continue
        licences[licence] += 1
        ex.add(f"{src.repo.split('/')[1]}/{rel}", raw, hint=src.hint, license=licence)
    return "; ".join(f"{k} ({v} files)" for k, v in sorted(licences.items())) or "none usable"
