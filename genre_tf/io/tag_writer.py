"""Writing genres into music files' own tags (mutagen): the one module that changes a person's files, so it
changes the genre field and nothing else, as beets' `write` and Picard do. Every other tag, frame and
comment, cover art, ReplayGain, the tag's version, its padding where the new tag still fits, and the audio
frames are kept; a file whose genre field already holds the genres is not written at all. Per format:

- MP3: ID3v2's TCON frame. A v2.3 tag stays v2.3 (several genres joined by '/', v2.3's way), v2.4 stays v2.4
  (one TCON, several strings); a v2.2 tag, which mutagen cannot write, becomes v2.4. The tag is written as it
  was read, untranslated: mutagen's v2.3 -> v2.4 -> v2.3 round trip drops v2.3 frames (RVAD) and the TSOP and
  TSOA that iTunes writes into v2.3 tags.
- MP3 with an ID3v1 tag, alone or after ID3v2: the v1 block stays byte for byte but its genre byte, which
  becomes the number of the first genre ID3v1's list names (as `genre_key` matches: 'hip hop' is Hip-Hop),
  else 255, v1's "none": a player that reads only v1 then shows no genre rather than the replaced one.
  (mutagen would rewrite the whole v1 block from the v2 frames.) An MP3 with only ID3v1 gets an ID3v2.4 tag
  holding the v1 fields and the genres, so that a player reading only v2 still shows its title and artist.
- FLAC, Ogg Vorbis, Ogg Opus: GENRE comments, one per genre, at the first old one's place and in its
  spelling of the key; the other comments keep their order. An ID3 tag before a FLAC stream is kept as is.
- MP4 (AAC, ALAC): `©gen`, one value per genre. A numeric `gnre` atom (an ID3v1 number + 1) reads as its
  genre's name and is not written back (mutagen writes `©gen` only), so players don't show two genres.
- WAV, AIFF: the ID3 chunk's TCON, as in MP3 (they have no ID3v1). A RIFF INFO genre (IGNR) is not touched.

What mutagen itself cannot keep is not kept, as in beets and Picard: it puts ID3 frames in its own order
and drops frames it cannot parse; a `gnre` atom with a number outside ID3v1's list stays. Anything else
than these formats, a tag that cannot be read, or a comment mutagen would rewrite raises TagWriteError
before the file is opened for writing. The file is written in place, as mutagen writes (its inode, links and
permissions stay); the caller verifies its audio afterwards by decoding it.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import mutagen
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TCON, ID3NoHeaderError, ID3v1SaveOptions
from mutagen.id3._id3v1 import find_id3v1  # the very search ID3.save uses for the ID3v1 tag it removes
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from ..core.errors import GenreTfError, require
from .tags import genre_key, split_genres

_ID3_FORMATS = (MP3, WAVE, AIFF)
_VORBIS_FORMATS = (FLAC, OggVorbis, OggOpus)
_V1_NONE = 255  # ID3v1's genre byte for "no genre"
# ID3v1's genre numbers (with Winamp's extensions, as mutagen reads them) by genre_key; the first of a spelling.
_V1_NUMBERS = {genre_key(name): number for number, name in reversed(list(enumerate(TCON.GENRES)))}
_JOINING_WORDS = {"and", "n", "of", "the", "de", "la", "y", "e", "und"}
# Keys mutagen gives Vorbis comments it could not split at '=' or whose key is not one.
_RENAMED_COMMENT = re.compile(r"unknown\d+")


class TagWriteError(GenreTfError):
    """A file whose genre field cannot be read or written; the message names the cause in one line (the
    caller adds the file).

    Raised by `genre_field` and `write_genre_field` for a tag that cannot be read or written, a format they do
    not write, or a damaged Vorbis comment that writing would rewrite.
    """


def written_name(label: str) -> str:
    """A run's genre label as people write it in a tag: ID3v1's list's spelling where the list names the genre
    ('hiphop' or 'hip-hop' -> 'Hip-Hop'), else each word capitalised, short joining words
    kept lower ('drum-and-bass' -> 'Drum and Bass'; 'электроника' -> 'Электроника')."""
    if genre_key(label) in _V1_NUMBERS:
        return TCON.GENRES[_V1_NUMBERS[genre_key(label)]]
    words = label.replace("_", "-").split("-")
    return " ".join(w if k and w in _JOINING_WORDS else w[:1].upper() + w[1:] for k, w in enumerate(words) if w)


def genre_field(path: str | Path) -> list[str]:
    """The genre values exactly as the file stores them, in order, not split and placeholders kept: ID3v2's
    TCON strings (an MP3 without ID3v2: its ID3v1 genre's name), the GENRE comments, MP4's `©gen` (a `gnre`
    atom as its name); [] where there are none. Raises TagWriteError for a tag that cannot be read or a
    format this module does not write.

    Args:
        path: a music file: MP3, FLAC, Ogg Vorbis, Opus, MP4 (M4A), WAV or AIFF.

    Returns:
        The genre field's values as stored, in order.

    Raises:
        TagWriteError: the tag cannot be read, or the file is of a format this module does not write.
    """
    return _field(_opened(path))


def genre_field_and_names(path: str | Path) -> tuple[list[str], list[str]]:
    """`genre_field`'s values, and the genres they name as players read them (the file read once): ID3 numeric
    references resolved ('(17)', '17' -> 'Rock'; '(12)' -> 'Other'), several in one value split
    (`split_genres`), placeholders kept. Raises TagWriteError as `genre_field` does."""
    audio = _opened(path)
    values = _field(audio)
    names = TCON(encoding=3, text=values).genres if values and isinstance(audio, _ID3_FORMATS) else values
    return values, split_genres(names)


def _field(audio: mutagen.FileType) -> list[str]:
    if isinstance(audio, _ID3_FORMATS):
        return _id3_genres(audio, _v1_block(audio))
    if isinstance(audio, MP4):
        return list(audio.tags.get("©gen", [])) if audio.tags is not None else []
    return [value for key, value in audio.tags or [] if key.lower() == "genre"]


def writable_genre(genre: object) -> bool:
    """A genre value `write_genre_field` writes: a non-empty text without control characters."""
    return isinstance(genre, str) and bool(genre.strip()) and all(unicodedata.category(c) != "Cc" for c in genre)


def write_genre_field(path: str | Path, genres: list[str]) -> None:
    """Replace the file's genre values with `genres` in place (several values in the format's own way; []
    removes the genre), keeping everything else (see the module's docstring). Raises TagWriteError, with the
    file unchanged, for a tag that cannot be read or a format this module does not write.

    A file whose genre field already holds `genres` is not written at all. The file is written in place; check
    its audio afterwards where that matters (`write_tags` writes through checked copies).

    Args:
        path: a music file: MP3, FLAC, Ogg Vorbis, Opus, MP4 (M4A), WAV or AIFF.
        genres: the new genre values, in order: non-empty texts without control characters; [] removes the
            genre.

    Raises:
        GenreTfError: `genres` is a string, or holds an empty value or a control character.
        TagWriteError: the tag cannot be read or written, or the file is of a format this module does not
            write.
    """
    require(not isinstance(genres, str) and all(map(writable_genre, genres)),
            "genres are a list of non-empty texts without control characters")
    audio = _opened(path)
    writer = _write_id3 if isinstance(audio, _ID3_FORMATS) else _write_mp4 if isinstance(audio, MP4) else _write_vorbis
    try:
        writer(audio, list(genres))
    except (mutagen.MutagenError, OSError) as e:
        raise TagWriteError(f"tag cannot be written ({_cause(e, path)})") from None


def _opened(path: str | Path) -> mutagen.FileType:
    """The file as mutagen reads it, an ID3 tag as stored (not translated to v2.4, no ID3v1 merged in)."""
    try:
        audio = mutagen.File(path)  # every format mutagen knows competes, so a file is never taken for another
        if isinstance(audio, _ID3_FORMATS):
            audio = type(audio)(path, translate=False, load_v1=False)
    except Exception as e:  # mutagen's errors for damaged tags are many kinds
        raise TagWriteError(f"tag cannot be read ({_cause(e, path)})") from None
    if not isinstance(audio, (*_ID3_FORMATS, *_VORBIS_FORMATS, MP4)):
        kind = (Path(path).suffix.lower() or "unrecognised") if audio is None else type(audio).__name__
        raise TagWriteError(f"cannot write genres into {kind} files")
    if isinstance(audio, _VORBIS_FORMATS) and any(_RENAMED_COMMENT.fullmatch(key) or "\ufffd" in value
                                                  for key, value in audio.tags or []):
        raise TagWriteError("a Vorbis comment is damaged (no '=' or not UTF-8), and writing would rewrite it")
    return audio


def _cause(error: Exception, path: str | Path) -> str:
    """A library's error in one line, without the file's name (the caller names the file)."""
    text = str(error).replace(repr(str(path)), "the file").replace(str(path), "the file").strip()
    return text.splitlines()[0][:120] if text else "damaged"


def _id3_genres(audio: mutagen.FileType, v1_block: bytes) -> list[str]:
    if audio.tags is None:
        return [TCON.GENRES[v1_block[-1]]] if v1_block and v1_block[-1] < len(TCON.GENRES) else []
    return [text for frame in audio.tags.getall("TCON") for text in frame.text]


def _v1_block(audio: mutagen.FileType) -> bytes:
    """An MP3's ID3v1 tag as stored, b"" where it has none (WAV and AIFF have none)."""
    if not isinstance(audio, MP3):
        return b""
    with open(audio.filename, "rb") as f:
        _, offset = find_id3v1(f)  # (None, 0) where there is none
        f.seek(offset, 2)
        return f.read()


def _write_id3(audio: mutagen.FileType, genres: list[str]) -> None:
    version = audio.tags.version[1] if audio.tags is not None and audio.tags.version >= (2, 3, 0) else 4
    text = ["/".join(genres)] if version == 3 and genres else genres  # v2.3 has no list of strings
    v1_block = _v1_block(audio)
    new_v1_block = v1_block[:-1] + bytes([_v1_genre_number(genres)]) if v1_block else b""
    if _id3_genres(audio, v1_block) == text and new_v1_block == v1_block:
        return
    tags = _writable_id3(audio)
    tags.delall("TCON")
    if text:
        tags.add(TCON(encoding=3, text=text))  # UTF-8; mutagen writes UTF-16 into a v2.3 tag
    if not isinstance(audio, MP3):
        tags.save(audio.filename, v2_version=version)
        return
    # REMOVE, then the old block put back: UPDATE would rewrite all of it from the v2 frames.
    tags.save(audio.filename, v1=ID3v1SaveOptions.REMOVE, v2_version=version)
    if new_v1_block:
        with open(audio.filename, "ab") as f:
            f.write(new_v1_block)


def _writable_id3(audio: mutagen.FileType) -> ID3:
    """The ID3v2 tag to save: the file's own, a v2.2 one translated to v2.4, or a new one (holding the
    fields of an MP3's ID3v1 tag)."""
    if audio.tags is None and isinstance(audio, MP3):
        try:
            return ID3(audio.filename)  # an ID3v1 tag alone, as v2.4 frames
        except ID3NoHeaderError:
            return ID3()
    if audio.tags is None:
        audio.add_tags()
    elif audio.tags.version < (2, 3, 0):
        audio.tags.update_to_v24()
    return audio.tags


def _v1_genre_number(genres: list[str]) -> int:
    """ID3v1's number of the first genre its list names; 255 (none) where it names none."""
    return next((_V1_NUMBERS[genre_key(g)] for g in genres if genre_key(g) in _V1_NUMBERS), _V1_NONE)


def _write_vorbis(audio: mutagen.FileType, genres: list[str]) -> None:
    if audio.tags is None:
        audio.add_tags()  # a FLAC without a Vorbis comment block
    comments = list(audio.tags)
    replaced, placed = [], False
    for key, value in comments:
        if key.lower() != "genre":
            replaced.append((key, value))
        elif not placed:
            replaced += [(key, genre) for genre in genres]
            placed = True
    if not placed:
        replaced += [("GENRE", genre) for genre in genres]
    if replaced != comments:
        audio.tags[:] = replaced
        audio.save()


def _write_mp4(audio: MP4, genres: list[str]) -> None:
    if audio.tags is None:
        audio.add_tags()
    if audio.tags.get("©gen", []) == genres:  # a `gnre` atom reads as ©gen: it already says these
        return
    if genres:
        audio.tags["©gen"] = genres
    else:
        audio.tags.pop("©gen", None)
    audio.save()
