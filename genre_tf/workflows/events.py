"""What a pass over many audio files (extracting clips, labelling songs) tells its caller. The CLI
shows it as a progress bar and one line per problem; the library stays silent by default."""
from __future__ import annotations


class FileEvents:
    """What a pass over many files tells its caller; every method does nothing here. Subclass it to show
    progress (the CLI draws a progress bar) or to stop a pass (raise from a method)."""

    def info(self, message: str) -> None:
        """A line of progress: what is loaded, what there is to do, what is resumed.

        Args:
            message: the line.
        """

    def warn(self, message: str) -> None:
        """A line about a problem that does not stop the pass: a file passed over, a note on a clip.

        Args:
            message: the line, naming the file.
        """

    def start(self, total_clips: int) -> None:
        """The work begins; called once, before the first `clip_done` or `clip_failed`.

        Args:
            total_clips: the files the pass will go over (clips to extract, songs to label, files to write).
        """

    def clip_done(self, clip, segments: int) -> None:
        """One file finished.

        Args:
            clip (Clip | str): the clip (`extract`: its `Clip`) or the song's path (labelling, writing tags).
            segments: the segments featurized (`extract`) or windows labelled; 0 for a file whose tag was
                written.
        """

    def clip_failed(self, clip, error: str) -> None:
        """One file could not be used; the pass goes on.

        Args:
            clip (Clip | str): as in `clip_done`.
            error: why, in one line.
        """
