"""The fleet's units of work: drive specs from the command line, `.txt` drive lists and globs of drives.

| given | drives |
|---|---|
| a source as `run` takes it (a KITTI drive, a video, a folder of images, `synthetic:…`) | that one |
| a `.txt` list whose lines are drives (folders, videos, sources) | one per line, paths relative to the list |
| a `.txt` list of image files (what `run` reads as one sequence) | the list itself, one drive |
| a `.streams` file | one per line, as written |
| a glob matching folders or videos (`kitti/2011_*_sync`) | one per match |
| a glob matching image files only (`frames/*.png`) | the glob itself, one drive (as `run` reads it) |

Each drive's folder name is its last path part (or its source string), made safe for a file name; two
drives of one name get a hash of their spec appended, so names never collide and stay the same between
an audit and its rerun.
"""

from __future__ import annotations

import glob
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from depthmask.errors import SourceError
from depthmask.sources import open_source
from depthmask.sources.base import file_kind, read_text_file, shorten
from depthmask.sources.grammar import expand_path, names_a_path
from depthmask.sources.images import IMAGE_SUFFIXES
from depthmask.sources.video import VIDEO_SUFFIXES

MAX_LIST_BYTES = 64 * 2**20  # a list of a million drives
MAX_DRIVES = 1_000_000
MAX_NAME_CHARS = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


@dataclass(frozen=True)
class Drive:
    """One unit of work: the source string `run` is given for it, and its folder's name."""

    spec: str
    name: str
    listed: bool  # named in a list or matched by a glob (checked by its worker, not up front)


def expand_drives(specs: tuple[str, ...] | list[str]) -> list[Drive]:
    """The drives `specs` name, in order, each once (see the module docstring).

    A drive named directly on the command line is opened here (not read), so a typo stops the audit
    before any cluster starts; drives from lists and globs are checked by their worker and a bad one is
    reported failed while the rest go on.
    """
    found: list[tuple[str, bool]] = []
    for spec in specs:
        spec = spec.strip()
        target = expand_path(spec)
        suffix = target.suffix.lower()
        if suffix in (".txt", ".streams") and file_kind(target) == "file":
            found += [(line, True) for line in _listed(target)]
        elif file_kind(target) is None and any(ch in spec for ch in "*?["):
            found += [(match, True) for match in _globbed(spec)]
        else:
            open_source(spec)  # SourceError names what is wrong with it
            found.append((spec, False))
        if len(found) > MAX_DRIVES:
            raise SourceError(f"more than {MAX_DRIVES:,} drives; split the audit into several fleets")
    first: dict[str, bool] = {}
    for spec, listed in found:  # a drive named twice is audited once
        first.setdefault(spec, listed)
    unique = list(first.items())
    if not unique:
        raise SourceError("no drives given; name drive folders, videos, a .txt list of drives or a glob")
    return _named(unique)


def _listed(path: Path) -> list[str]:
    """A list's drives: each line (relative paths from the list's folder for a .txt), or the list itself
    when it holds image files only (one sequence, as `run` reads it)."""
    text = read_text_file(path, "drive list", MAX_LIST_BYTES)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines:
        raise SourceError(f"{shorten(str(path))} lists no drives (one a line, '#' starts a comment)")
    if path.suffix.lower() == ".streams":
        return lines
    if all(Path(ln).suffix.lower() in IMAGE_SUFFIXES for ln in lines):
        return [str(path)]
    return [str(path.parent / ln) if names_a_path(ln) and not Path(ln).is_absolute() else ln for ln in lines]


def _globbed(pattern: str) -> list[str]:
    """A glob's drives: each folder or video it matches, or the glob itself when it matches images only."""
    matches = sorted(glob.glob(str(expand_path(pattern)), recursive=True))
    if not matches:
        raise SourceError(f"the pattern {shorten(pattern)!r} matches nothing")
    drives = [m for m in matches if file_kind(Path(m)) == "dir" or Path(m).suffix.lower() in VIDEO_SUFFIXES]
    if not drives:
        return [pattern]  # images: one sequence
    others = sorted(set(matches) - set(drives))
    if others:
        raise SourceError(
            f"the pattern {shorten(pattern)!r} matches drives (folders, videos) and {len(others)} other "
            f"file(s), e.g. {shorten(others[0])!r}; narrow it to the drives (e.g. end it with _sync)"
        )
    return drives


def _named(drives: list[tuple[str, bool]]) -> list[Drive]:
    """Folder names: the spec's last part made safe; names shared by several drives get a spec hash."""
    bases = [_base_name(spec) for spec, _ in drives]
    shared = {b for b in bases if bases.count(b) > 1}
    out = []
    for (spec, listed), base in zip(drives, bases, strict=True):
        name = f"{base}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}" if base in shared else base
        out.append(Drive(spec, name, listed))
    return out


def _base_name(spec: str) -> str:
    part = (Path(spec.rstrip("/")).name or spec) if names_a_path(spec) else spec
    name = _UNSAFE.sub("_", part).strip("._") or "drive"
    return name[:MAX_NAME_CHARS]
