"""genre_tf.io.tag_writer on real files of every format it writes (MP3 with ID3v2.3, v2.4, v1; FLAC, Ogg Vorbis,
Opus, M4A with AAC and ALAC, WAV, AIFF), each tagged richly first. What it leaves is checked by an independent
reader (beets' mediafile), by mutagen's raw view of every tag, and by decoding the audio."""
from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import av
import mediafile  # the independent reader: beets' own (a dev dependency)
import mutagen
import numpy as np
import pytest
import soundfile as sf
from mutagen import id3
from mutagen.flac import FLAC, Picture
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm

from genre_tf.core.errors import GenreTfError
from genre_tf.io.tag_writer import TagWriteError, genre_field, write_genre_field
from .helpers import encode_ffmpeg, sine

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


def _mp3(path: Path, samples: np.ndarray) -> Path:
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
    path = _mp3(folder / f"{kind}.mp3", samples)
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


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict[str, Path]:
    """{kind: a pristine file}; tests work on copies."""
    folder = tmp_path_factory.mktemp("library")
    samples = sine(440, 1.5, RATE) + sine(660, 1.5, RATE, 0.2)
    makers = {"mp3": _make_mp3, "flac": _make_flac, "ogg": _make_ogg, "opus": _make_ogg, "m4a": _make_m4a,
              "wav": _make_chunked, "aiff": _make_chunked}
    return {kind: makers[kind.split("-")[0].split("+")[0]](folder, samples, kind) for kind in KINDS}


@pytest.fixture
def copy_of(library, tmp_path):
    def copy(kind: str) -> Path:
        return Path(shutil.copy(library[kind], tmp_path / library[kind].name))
    return copy


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


# --- the tests -----------------------------------------------------------------------------------------------

def test_the_fixture_library_is_richly_tagged(library):
    for kind in RICH:
        fields = mediafile_fields(library[kind])
        assert (fields["title"], fields["artist"], fields["album"], fields["track"]) == (
            "A title", "An artist", "An album", 3), kind
        assert fields["art"] == PNG and fields["rg_track_gain"] == -6.5 and fields["rg_album_peak"] == 0.987654, kind
        assert fields["year"] == 2001 and fields["comments"] == "a comment", kind
    assert mediafile_fields(library["mp3-v1"])["title"] == "A v1 title"


@pytest.mark.parametrize("kind", KINDS)
def test_genre_field_reads_the_genres_as_stored(library, kind):
    assert genre_field(library[kind]) == KINDS[kind]


@pytest.mark.parametrize("genres", [["Jazz"], ["Jazz", "Blues"], []], ids=["one", "two", "none"])
@pytest.mark.parametrize("kind", KINDS)
def test_writes_the_genres_and_nothing_else(copy_of, kind, genres):
    path = copy_of(kind)
    fields, tags, audio, version = mediafile_fields(path), other_tags(path), decoded(path), id3_version(path)

    write_genre_field(path, genres)

    media = mediafile.MediaFile(path)
    assert (media.genres or []) == stored(kind, genres) and media.genre == (stored(kind, genres) or [None])[0]
    assert genre_field(path) == stored(kind, genres)
    assert mediafile_fields(path) == fields
    if kind not in ("mp3-v1", "mp3-bare"):  # these gain an ID3v2 tag: checked below
        assert other_tags(path) == tags
        assert id3_version(path) == version
    assert np.array_equal(decoded(path), audio)


def test_an_mp3_with_only_id3v1_gets_a_v24_tag_and_keeps_its_v1_block(copy_of):
    path = copy_of("mp3-v1")
    block = path.read_bytes()[-128:]
    write_genre_field(path, ["Jazz"])
    tags = id3.ID3(path, load_v1=False)
    assert tags.version == (2, 4, 0)
    assert (str(tags["TIT2"]), str(tags["TPE1"]), str(tags["TRCK"]), tags["TCON"].text) == (
        "A v1 title", "A v1 artist", "7", ["Jazz"])
    assert path.read_bytes()[-128:] == block[:-1] + bytes([8])  # only the genre byte: 8 is Jazz


@pytest.mark.parametrize("kind", ["mp3-v1", "mp3-v2.4+v1"])
@pytest.mark.parametrize(("genres", "number"), [(["hip hop"], 7), (["Synthwave", "Electronic"], 52),
                                                (["Synthwave"], 255), ([], 255)])
def test_the_id3v1_genre_byte_is_the_first_genre_v1_names_else_none(copy_of, kind, genres, number):
    path = copy_of(kind)
    block = path.read_bytes()[-128:]
    write_genre_field(path, genres)
    assert path.read_bytes()[-128:] == block[:-1] + bytes([number])


def test_an_id3v22_tag_becomes_v24(tmp_path):
    path = _mp3(tmp_path / "v22.mp3", sine(440, 1.0, RATE))
    frames = b"".join(name + len(b"\x00" + text).to_bytes(3, "big") + b"\x00" + text
                      for name, text in [(b"TT2", b"A title"), (b"TCO", b"Rock")])
    path.write_bytes(b"ID3\x02\x00\x00" + len(frames).to_bytes(4, "big") + frames + path.read_bytes())
    audio = decoded(path)
    assert genre_field(path) == ["Rock"]
    write_genre_field(path, ["Jazz"])
    tags = id3.ID3(path)
    assert (tags.version, str(tags["TIT2"]), tags["TCON"].text) == ((2, 4, 0), "A title", ["Jazz"])
    assert np.array_equal(decoded(path), audio)


def test_an_mp4_numeric_genre_is_replaced_not_doubled(copy_of):
    path = copy_of("m4a-alac-gnre")
    assert b"gnre" in path.read_bytes() and mediafile.MediaFile(path).genre == "Rock"
    write_genre_field(path, ["Jazz"])
    assert b"gnre" not in path.read_bytes()
    assert MP4(path)["©gen"] == ["Jazz"] and mediafile.MediaFile(path).genres == ["Jazz"]


def test_genre_comments_keep_their_place_and_spelling(copy_of):
    path = copy_of("flac")
    audio = FLAC(path)
    audio.tags[:] = [("genre" if key == "GENRE" else key, value) for key, value in audio.tags]
    audio.save()
    keys = [key for key, _ in FLAC(path).tags]
    write_genre_field(path, ["Jazz", "Blues"])
    at = keys.index("genre")
    assert [key for key, _ in FLAC(path).tags] == keys[:at] + ["genre", "genre"] + keys[at + 1:]


def test_an_id3_tag_before_a_flac_stream_is_kept(copy_of, library):
    path = copy_of("flac+id3")
    prefix = library["flac+id3"].read_bytes().index(b"fLaC")
    write_genre_field(path, ["Jazz"])
    assert path.read_bytes()[:prefix + 4] == library["flac+id3"].read_bytes()[:prefix + 4]
    assert FLAC(path).tags["GENRE"] == ["Jazz"]


@pytest.mark.parametrize("kind", KINDS)
def test_writing_the_same_genres_again_leaves_the_bytes_as_they_were(copy_of, kind):
    path = copy_of(kind)
    write_genre_field(path, ["Jazz", "Blues"])
    written = path.read_bytes()
    os.utime(path, ns=(10**18, 10**18))
    write_genre_field(path, ["Jazz", "Blues"])
    assert path.read_bytes() == written and path.stat().st_mtime_ns == 10**18  # not even opened for writing
    write_genre_field(path, ["Ambient"])  # and through another genre and back: mutagen writes the same bytes
    write_genre_field(path, ["Jazz", "Blues"])
    assert path.read_bytes() == written


def _damaged_mp3(folder: Path) -> Path:
    path = _mp3(folder / "damaged.mp3", sine(440, 1.0, RATE))
    path.write_bytes(b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + b"\xff" * 64 + path.read_bytes())
    return path


def _au(folder: Path) -> Path:
    path = folder / "sun.au"
    sf.write(path, sine(440, 1.0, RATE), RATE)
    return path


def _unknown_with_id3(folder: Path) -> Path:
    path = _au(folder)
    data = path.read_bytes()
    path.write_bytes(b"")
    tags = id3.ID3()
    tags.add(id3.TIT2(encoding=3, text="A title"))
    tags.save(path)
    path.write_bytes(path.read_bytes() + data)
    return path


@pytest.mark.parametrize(("make", "message"), [
    (_damaged_mp3, "tag cannot be read (damaged)"),
    (_au, "cannot write genres into .au files"),
    (_unknown_with_id3, "tag cannot be read (can't sync to MPEG frame)"),  # mutagen takes it for an MP3
], ids=["damaged-id3", "au", "au-with-id3"])
def test_a_file_it_cannot_write_is_left_as_it_is(tmp_path, make, message):
    path = make(tmp_path)
    data = path.read_bytes()
    for call in (lambda: genre_field(path), lambda: write_genre_field(path, ["Jazz"])):
        with pytest.raises(TagWriteError) as raised:
            call()
        assert str(raised.value) == message
    assert path.read_bytes() == data


def test_a_damaged_vorbis_comment_is_not_rewritten(copy_of):
    path = copy_of("flac")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"MY_TAG=mine", b"MY_TAG_mine"))  # a comment without '='
    data = path.read_bytes()
    with pytest.raises(TagWriteError, match="Vorbis comment is damaged"):
        write_genre_field(path, ["Jazz"])
    assert path.read_bytes() == data


@pytest.mark.parametrize("genres", ["Jazz", ["Jazz", " "], ["Jazz\nBlues"], ["Jazz\x00"], [3]])
def test_genres_are_texts(copy_of, genres):
    path = copy_of("flac")
    data = path.read_bytes()
    with pytest.raises(GenreTfError, match="genres are a list of non-empty texts"):
        write_genre_field(path, genres)
    assert path.read_bytes() == data
