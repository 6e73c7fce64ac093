"""A fixture library of real encoded files in every format genre-tf writes tags into (MP3 with ID3v2.3, v2.4,
v1; FLAC, Ogg Vorbis, Opus, M4A with AAC and ALAC, WAV, AIFF), each richly tagged with mutagen (cover art,
ReplayGain, comments, a private frame); and independent views of a file (beets' mediafile, mutagen's raw
tags, FFmpeg's decoding) to check what a write left."""
from __future__ import annotations

import base64
from pathlib import Path

import av
import mediafile  # the independent reader: beets' own (a dev dependency)
import mutagen
import numpy as np
import soundfile as sf
from mutagen import id3
from mutagen.flac import FLAC, Picture
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm

from .helpers import encode_ffmpeg

RATE = 44100
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
REPLAYGAIN = {"REPLAYGAIN_TRACK_GAIN": "-6.50 dB", "REPLAYGAIN_TRACK_PEAK": "0.912345",
              "REPLAYGAIN_ALBUM_GAIN": "-7.25 dB", "REPLAYGAIN_ALBUM_PEAK": "0.987654"}
V1_ROCK = 17  # ID3v1's number for Rock
# Every kind of file the fixture library holds, and the genre values it holds before.
KINDS = {"mp3-v2.4": ["Rock"], "mp3-v2.3": [], "mp3-v2.4+v1": ["Rock"], "mp3-v1": ["Rock"], "mp3-bare": [],
         "flac": ["Rock"], "flac+id3": [], "ogg": ["Rock"], "opus": ["Rock"], "m4a-aac": ["Rock"],
         "m4a-alac-gnre": ["Rock"], "wav": ["Rock"], "aiff": []}
RICH = [kind for kind in KINDS if kind not in ("mp3-v1", "mp3-bare")]  # cover art, ReplayGain, a comment...


# --- the fixture library: real encoded files, tagged with mutagen ---------------------------------------------

def _id3_frames(tags: id3.ID3, genre: bool) -> None:
    tags.add(id3.TIT2(encoding=3, text="A title"))
    tags.add(id3.TPE1(encoding=3, text="An artist"))
    tags.add(id3.TALB(encoding=3, text="An album"))
    tags.add(id3.TRCK(encoding=3, text="3/12"))
    tags.add(id3.TDRC(encoding=3, text="2001-05-04"))
    tags.add(id3.COMM(encoding=3, lang="eng", desc="", text="a comment"))
    tags.add(id3.APIC(encoding=3, mime="image/png", type=3, desc="front", data=PNG))
    tags.add(id3.PRIV(owner="genre-tf test", data=b"\x00\x01private"))
    tags.add(id3.TXXX(encoding=3, desc="MY_TAG", text="mine"))
    for name, value in REPLAYGAIN.items():
        tags.add(id3.TXXX(encoding=3, desc=name, text=value))
    if genre:
        tags.add(id3.TCON(encoding=3, text="Rock"))


def mp3(path: Path, samples: np.ndarray) -> Path:
    sf.write(path, samples, RATE, format="MP3")
    return path


def _id3v1_block(genre: int) -> bytes:
    fields = [b"A v1 title", b"A v1 artist", b"A v1 album"]
    return (b"TAG" + b"".join(f.ljust(30, b"\x00") for f in fields) + b"1999" + b"a v1 comment".ljust(28, b"\x00")
            + b"\x00\x07" + bytes([genre]))  # v1.1: track 7


def _vorbis_comments(tags, genre: bool) -> None:
    tags["TITLE"], tags["ARTIST"], tags["ALBUM"] = "A title", "An artist", "An album"
    tags["TRACKNUMBER"], tags["DATE"], tags["COMMENT"] = "3", "2001-05-04", "a comment"
    if genre:
        tags["GENRE"] = "Rock"  # between other comments: its place is kept
    tags["MY_TAG"] = "mine"
    for name, value in REPLAYGAIN.items():
        tags[name] = value


def _picture() -> Picture:
    picture = Picture()
    picture.type, picture.mime, picture.desc, picture.data = 3, "image/png", "front", PNG
    return picture


def _make_mp3(folder: Path, samples: np.ndarray, kind: str) -> Path:
    path = mp3(folder / f"{kind}.mp3", samples)
    if kind not in ("mp3-v1", "mp3-bare"):
        tags = id3.ID3()
        _id3_frames(tags, genre=kind != "mp3-v2.3")
        if kind == "mp3-v2.3":
            tags.update_to_v23()
            tags.add(id3.TSOP(encoding=1, text="Artist, An"))  # iTunes writes this v2.4 frame into v2.3 tags
        tags.save(path, v2_version=3 if kind == "mp3-v2.3" else 4)
    if kind in ("mp3-v1", "mp3-v2.4+v1"):  # a v1 tag of its own, not mutagen's copy of the v2 one
        with open(path, "ab") as f:
            f.write(_id3v1_block(V1_ROCK))
    return path


def _make_flac(folder: Path, samples: np.ndarray, kind: str) -> Path:
    path = folder / f"{kind}.flac"
    sf.write(path, samples, RATE, format="FLAC")
    audio = FLAC(path)
    _vorbis_comments(audio.tags, genre=kind == "flac")
    audio.add_picture(_picture())
    audio.save()
    if kind == "flac+id3":  # some taggers put an ID3 tag before the FLAC stream
        prefix = folder / "prefix.id3"
        prefix.touch()
        tags = id3.ID3()
        tags.add(id3.TIT2(encoding=3, text="The ID3 title"))
        tags.save(prefix)
        path.write_bytes(prefix.read_bytes() + path.read_bytes())
        prefix.unlink()
    return path


def _make_ogg(folder: Path, samples: np.ndarray, kind: str) -> Path:
    if kind == "ogg":
        path = folder / "vorbis.ogg"
        sf.write(path, samples, RATE, format="OGG", subtype="VORBIS")
    else:
        path = encode_ffmpeg(folder / "opus.opus", samples, RATE, "libopus")
    audio = mutagen.File(path)
    _vorbis_comments(audio.tags, genre=True)
    audio.tags["METADATA_BLOCK_PICTURE"] = base64.b64encode(_picture().write()).decode("ascii")
    if kind == "opus":
        audio.tags["R128_TRACK_GAIN"] = "-1234"
    audio.save()
    return path


def _make_m4a(folder: Path, samples: np.ndarray, kind: str) -> Path:
    path = encode_ffmpeg(folder / f"{kind}.m4a", samples, RATE, "aac" if kind == "m4a-aac" else "alac")
    audio = MP4(path)
    audio["©nam"], audio["©ART"], audio["©alb"] = ["A title"], ["An artist"], ["An album"]
    audio["trkn"], audio["©day"], audio["©cmt"] = [(3, 12)], ["2001"], ["a comment"]
    audio["covr"] = [MP4Cover(PNG, imageformat=MP4Cover.FORMAT_PNG)]
    audio["----:com.apple.iTunes:MY_TAG"] = [MP4FreeForm(b"mine")]
    for name, value in REPLAYGAIN.items():
        audio[f"----:com.apple.iTunes:{name.lower()}"] = [MP4FreeForm(value.encode())]
    audio["©gen"] = ["Rock" if kind == "m4a-aac" else "XX"]
    audio.save()
    if kind == "m4a-alac-gnre":  # mutagen writes no `gnre`: its ©gen atom of the same size becomes one
        data = path.read_bytes()
        text_genre = b"\x00\x00\x00\x1a\xa9gen\x00\x00\x00\x12data\x00\x00\x00\x01\x00\x00\x00\x00XX"
        assert data.count(text_genre) == 1
        numeric = b"\x00\x00\x00\x1agnre\x00\x00\x00\x12data" + bytes(8) + (V1_ROCK + 1).to_bytes(2, "big")
        path.write_bytes(data.replace(text_genre, numeric))
    return path


def _make_chunked(folder: Path, samples: np.ndarray, kind: str) -> Path:
    """WAV (an ID3v2.4 chunk with a genre) or AIFF (an ID3v2.3 chunk without)."""
    path = folder / f"{kind}.{kind}"
    sf.write(path, samples, RATE, format=kind.upper())
    audio = mutagen.File(path)
    audio.add_tags()
    _id3_frames(audio.tags, genre=kind == "wav")
    if kind == "aiff":
        audio.tags.update_to_v23()
    audio.save(v2_version=3 if kind == "aiff" else 4)
    return path


_MAKERS = {"mp3": _make_mp3, "flac": _make_flac, "ogg": _make_ogg, "opus": _make_ogg, "m4a": _make_m4a,
           "wav": _make_chunked, "aiff": _make_chunked}


def make_file(folder: Path, samples: np.ndarray, kind: str) -> Path:
    """A file of `kind` (one of KINDS) in `folder`, holding `samples` at RATE, tagged as KINDS says."""
    folder.mkdir(parents=True, exist_ok=True)
    return _MAKERS[kind.split("-")[0].split("+")[0]](folder, samples, kind)


# --- independent views of a file -----------------------------------------------------------------------------

def mediafile_fields(path: Path) -> dict:
    """Every field beets' mediafile reads, but the genre; images as their bytes and kind."""
    media = mediafile.MediaFile(path)
    fields = {name: getattr(media, name) for name in media.readable_fields() if name not in ("genre", "genres")}
    fields["images"] = [(i.data, i.mime_type, i.type, i.desc) for i in fields["images"] or []]
    return fields


def other_tags(path: Path) -> list[tuple[str, str]]:
    """Every tag but the genre as mutagen reads it (ID3: as stored, untranslated), in order, with its bytes."""
    audio = mutagen.File(path)
    if isinstance(audio.tags, id3.ID3) and audio.tags.version >= (2, 3, 0):
        audio = type(audio)(path, translate=False, load_v1=False)
    if audio.tags is None:
        return []
    pairs = audio.tags if isinstance(audio.tags, list) else audio.tags.items()  # Vorbis comments: a list
    return [(key, repr(value)) for key, value in pairs if key.lower() not in ("tcon", "genre", "©gen")]


def decoded(path: Path) -> np.ndarray:
    """All of the file's audio as FFmpeg decodes it, at its own rate and sample format."""
    with av.open(str(path)) as container:
        return np.concatenate([frame.to_ndarray() for frame in container.decode(audio=0)], axis=-1)


def id3_version(path: Path) -> tuple | None:
    audio = mutagen.File(path)
    return audio.tags.version if isinstance(audio.tags, id3.ID3) else None


def stored(kind: str, genres: list[str]) -> list[str]:
    """The genre values as `kind` stores them: ID3v2.3 joins several with '/'."""
    return ["/".join(genres)] if kind in ("mp3-v2.3", "aiff") and len(genres) > 1 else genres
