"""How sources end: once, with `end_note` saying why when it was early (a stream gone, a drive's missing
frames), and KITTI timestamps that cannot be read give errors that name the file and line."""

from __future__ import annotations

import http.server
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from clips import write_clip
from depthmask.errors import SourceError
from depthmask.sources import CaptureSource, open_source

STAMPS = [f"2011-09-26 13:02:{25 + k // 10:02d}.{k % 10}00000000" for k in range(6)]


def test_stream_gone_sets_end_note(tmp_path: Path) -> None:
    """An HTTP stream that serves one MPEG-TS clip and then goes away: every frame, then a note."""
    data = write_clip(tmp_path / "live.ts").read_bytes()

    class OneClip(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.TCPServer(("127.0.0.1", 0), OneClip)

    def serve_once() -> None:
        server.handle_request()
        server.server_close()  # gone: reconnects are refused at once

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/live.ts"
    source = CaptureSource(url, timeout_s=2.0, max_reconnects=2, backoff_s=0.01)
    frames = list(source)
    thread.join(5)
    assert [f.index for f in frames] == list(range(12))
    assert source.end_note == f"{url}: gone after frame 11; 2 reconnect attempts failed"
    assert source.describe()["end"] == source.end_note and source.describe()["reconnects"] == 2


def _drive(root: Path, files: list[int], stamps: list[str] | None, image_folder: Callable) -> Path:
    drive = root / "2011_09_26_drive_0001_sync"
    data = drive / "image_02" / "data"
    data.parent.mkdir(parents=True)
    image_folder(max(files) + 1).rename(data)
    for k in set(range(max(files) + 1)) - set(files):
        (data / f"{k:010d}.png").unlink()
    if stamps is not None:
        (drive / "image_02" / "timestamps.txt").write_text("\n".join(stamps) + "\n")
    return drive


def test_kitti_missing_frames_follow_the_timestamps(tmp_path: Path, image_folder: Callable) -> None:
    drive = _drive(tmp_path, [0, 1, 3, 4], STAMPS, image_folder)  # frames 2 and 5 are missing
    source = open_source(str(drive))
    frames = list(source)
    assert len(frames) == len(STAMPS)  # one per line of timestamps.txt
    assert [f.ok for f in frames] == [True, True, False, True, True, False]
    assert "0000000002.png: cannot be read" in frames[2].error
    assert frames[3].timestamp - frames[0].timestamp == pytest.approx(0.3)
    assert "2 of the 6 files read were missing" in source.end_note
    strided = list(open_source(f"{drive}?stride=2"))
    assert [f.index for f in strided] == [0, 2, 4] and [f.ok for f in strided] == [True, False, True]


@pytest.mark.parametrize(
    ("stamps", "words"),
    [
        ([*STAMPS[:2], "not a time"], r"timestamps\.txt, line 3: not a KITTI timestamp: 'not a time'"),
        ([*STAMPS[:1], "2011-13-26 13:02:25.1"], r"line 2: not a KITTI timestamp: '2011-13-26"),
        ([*STAMPS[:1], "2011-09-26 13:02:25.abc"], r"line 2: not a KITTI timestamp"),
        (STAMPS[:2], r"has 2 timestamps for 4 frames"),
    ],
)
def test_kitti_bad_timestamps_are_errors(
    tmp_path: Path, image_folder: Callable, stamps: list, words: str
) -> None:
    drive = _drive(tmp_path, [0, 1, 2, 3], stamps, image_folder)
    with pytest.raises(SourceError, match=words):
        open_source(str(drive))


def test_kitti_binary_timestamps_and_no_timestamps(tmp_path: Path, image_folder: Callable) -> None:
    drive = _drive(tmp_path, [0, 1, 2], None, image_folder)
    assert [f.ok for f in open_source(str(drive))] == [True, True, True]  # frame numbers only: fine
    (drive / "image_02" / "timestamps.txt").write_bytes(b"\xff\xfe2\x000\x001\x001\x00")
    with pytest.raises(SourceError, match=r"timestamps\.txt' is binary"):
        open_source(str(drive))
    (drive / "image_02" / "timestamps.txt").write_bytes(b"2011-09-26 13:02:25.1\xe9\n")
    with pytest.raises(SourceError, match=r"timestamps\.txt' is not UTF-8 text \(byte 0xe9"):
        open_source(str(drive))


def test_a_video_file_served_over_http_ends_instead_of_replaying(tmp_path: Path) -> None:
    """An .mp4 at an http:// URL is finite: at its end the source stops; reconnecting would replay it."""
    import itertools

    write_clip(tmp_path / "clip.mp4", fmt="mp4")

    class Files(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Files)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = CaptureSource(f"http://127.0.0.1:{server.server_address[1]}/clip.mp4", timeout_s=2.0)
        frames = list(itertools.islice(source, 40))  # a replay would run to the 40 taken here
    finally:
        server.shutdown()
        server.server_close()
    assert [f.index for f in frames] == list(range(12)) and source.end_note is None
