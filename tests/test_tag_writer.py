"""genre_tf.io.tag_writer on real files of every format it writes (MP3 with ID3v2.3, v2.4, v1; FLAC, Ogg Vorbis,
Opus, M4A with AAC and ALAC, WAV, AIFF), each tagged richly first. What it leaves is checked by an independent
reader (beets' mediafile), by mutagen's raw view of every tag, and by decoding the audio."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import mediafile
import numpy as np
import pytest
import soundfile as sf
from mutagen import id3
from mutagen.flac import FLAC
from mutagen.mp4 import MP4

from genre_tf.core.errors import GenreTfError
from genre_tf.io.tag_writer import TagWriteError, genre_field, write_genre_field

from .helpers import sine
from .tag_library import (
    KINDS,
    PNG,
    RATE,
    RICH,
    decoded,
    id3_version,
    make_file,
    mediafile_fields,
    mp3,
    other_tags,
    stored,
)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict[str, Path]:
    """{kind: a pristine file}; tests work on copies."""
    folder = tmp_path_factory.mktemp("library")
    samples = sine(440, 1.5, RATE) + sine(660, 1.5, RATE, 0.2)
    return {kind: make_file(folder, samples, kind) for kind in KINDS}


@pytest.fixture
def copy_of(library, tmp_path):
    def copy(kind: str) -> Path:
        return Path(shutil.copy(library[kind], tmp_path / library[kind].name))
    return copy


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
    path = mp3(tmp_path / "v22.mp3", sine(440, 1.0, RATE))
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
    path = mp3(folder / "damaged.mp3", sine(440, 1.0, RATE))
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
