"""Downloads from a local HTTP server: verified, atomic, and clear about every failure."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _data_helpers import (
    GZ_NAMES,
    SERVED,
    TEST,
    TINY_SPEC,
    TRAIN,
    LocalServer,
    Reply,
    Tiny,
    Unchecked,
    listing,
    local_server,
    refused_mirror,
    write_folder,
)

from minifw.data import MNIST, cache_folder
from minifw.errors import DownloadError, ValidationError

pytestmark = pytest.mark.network

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
HTML = b"<!DOCTYPE html>\n<html><body><h1>Service temporarily unavailable</h1></body></html>\n"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


def served_with(name: str, body: bytes) -> dict[str, bytes]:
    return {**SERVED, name: body}


def test_good_download_lands_the_four_files_and_loads_them(
    server: LocalServer, tmp_path: Path
) -> None:
    mirror = server.serve("good", SERVED)
    ds = Tiny.download(tmp_path, [mirror], normalize=False, progress=False)
    assert listing(tmp_path / "tiny") == GZ_NAMES
    assert [(tmp_path / "tiny" / n).read_bytes() == SERVED[n] for n in GZ_NAMES] == [True] * 4
    np.testing.assert_array_equal(ds.train.x, TRAIN[0].reshape(30, 784))
    np.testing.assert_array_equal(ds.test.t, TEST[1])
    assert ds.source == tmp_path / "tiny"
    umask = os.umask(0)
    os.umask(umask)
    for name in GZ_NAMES:  # readable like any downloaded file, not owner-only
        assert (tmp_path / "tiny" / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_cached_files_are_used_without_network(server: LocalServer, tmp_path: Path) -> None:
    Tiny.download(tmp_path, [server.serve("good", SERVED)], progress=False)
    requests = len(server.requests)
    ds = Tiny.download(tmp_path, [refused_mirror()], progress=False)
    assert len(ds.train) == 30
    assert len(server.requests) == requests


def test_checksum_mismatch_leaves_no_file(server: LocalServer, tmp_path: Path) -> None:
    wrong = SERVED["t10k-images-idx3-ubyte.gz"]  # a valid IDX gzip, but not the expected file
    mirror = server.serve("bad", served_with(TRAIN_IMAGES, wrong))
    with pytest.raises(DownloadError) as caught:
        Tiny.download(tmp_path, [mirror], progress=False)
    message = str(caught.value)
    assert TRAIN_IMAGES in message
    assert mirror + TRAIN_IMAGES in message
    assert TINY_SPEC.train_images.checksum is not None
    assert f"expected {TINY_SPEC.train_images.checksum.hexdigest}" in message
    assert f"{len(wrong)} bytes of gzip data" in message
    assert listing(tmp_path / "tiny") == []


def test_a_bad_last_file_keeps_only_the_verified_ones(server: LocalServer, tmp_path: Path) -> None:
    damaged = SERVED[TEST_LABELS][:-1] + bytes([SERVED[TEST_LABELS][-1] ^ 0xFF])
    mirror = server.serve("bad", served_with(TEST_LABELS, damaged))
    with pytest.raises(DownloadError, match="wrong md5 checksum"):
        Tiny.download(tmp_path, [mirror], progress=False)
    assert listing(tmp_path / "tiny") == [n for n in GZ_NAMES if n != TEST_LABELS]


def test_html_error_page_with_status_200_is_rejected(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/html/" + TRAIN_IMAGES] = Reply(HTML, content_type="text/html; charset=utf-8")
    with pytest.raises(DownloadError) as caught:
        Tiny.download(tmp_path, [server.mirror("html")], progress=False)
    assert f"{len(HTML)} bytes of an HTML page, not the gzip file" in str(caught.value)
    assert "text/html" in str(caught.value)
    assert listing(tmp_path / "tiny") == []


def test_html_page_is_rejected_even_without_a_recorded_checksum(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/html/" + TRAIN_IMAGES] = Reply(HTML, content_type="application/octet-stream")
    with pytest.raises(DownloadError, match=r"not a valid IDX file .*HTML page"):
        Unchecked.download(tmp_path, [server.mirror("html")], progress=False)
    assert listing(tmp_path / "tiny") == []


def test_without_checksum_a_valid_idx_download_is_accepted(
    server: LocalServer, tmp_path: Path
) -> None:
    ds = Unchecked.download(tmp_path, [server.serve("good", SERVED)], progress=False)
    assert (len(ds.train), len(ds.test)) == (30, 20)


@pytest.mark.parametrize("failure", ["refused", "404", "500"])
def test_first_mirror_down_second_used(server: LocalServer, tmp_path: Path, failure: str) -> None:
    good = server.serve("good", SERVED)
    if failure == "refused":
        first = refused_mirror()
    elif failure == "404":
        first = server.mirror("missing")
    else:
        server.routes.update({f"/broken/{n}": Reply(b"oops", status=500) for n in GZ_NAMES})
        first = server.mirror("broken")
    ds = Tiny.download(tmp_path, [first, good], progress=False)
    assert len(ds.test) == 20
    assert listing(tmp_path / "tiny") == GZ_NAMES


def test_connection_cut_mid_file_leaves_no_partial_file(
    server: LocalServer, tmp_path: Path
) -> None:
    body = SERVED[TRAIN_IMAGES]
    half = len(body) // 2
    server.routes["/cut/" + TRAIN_IMAGES] = Reply(body[:half], content_length=len(body))
    with pytest.raises(DownloadError) as caught:
        Tiny.download(tmp_path, [server.mirror("cut")], progress=False)
    assert f"transfer interrupted: expected {len(body)} bytes (Content-Length), got {half}" in str(
        caught.value
    )
    assert listing(tmp_path / "tiny") == []


def test_all_mirrors_failing_give_one_error_listing_each(
    server: LocalServer, tmp_path: Path
) -> None:
    refused = refused_mirror()
    mirrors = [refused, server.mirror("missing")]
    with pytest.raises(DownloadError) as caught:
        Tiny.download(tmp_path, mirrors, progress=False)
    message = str(caught.value)
    assert f"{refused}{TRAIN_IMAGES}: cannot connect" in message
    assert f"{server.mirror('missing')}{TRAIN_IMAGES}: HTTP error 404" in message
    assert "Tiny.offline() is the offline way." in message
    assert listing(tmp_path / "tiny") == []


def test_offline_mnist_error_says_where_and_how_and_mentions_the_sample(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as caught:
        MNIST.download(tmp_path, [refused_mirror()], progress=False)
    message = str(caught.value)
    folder = str(tmp_path / "mnist")
    for needle in (folder, *GZ_NAMES, "MINIFW_DATA", "from_directory", "MNIST.sample()"):
        assert needle in message
    assert listing(tmp_path / "mnist") == []


def test_no_mirrors_and_no_files_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"no mirrors were given"):
        Tiny.download(tmp_path, [], progress=False)


def test_files_placed_by_hand_are_used_even_if_their_gzip_bytes_differ(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "tiny")
    assert (folder / TRAIN_IMAGES).read_bytes() != SERVED[TRAIN_IMAGES]
    ds = Tiny.download(tmp_path, [], progress=False)
    np.testing.assert_array_equal(ds.test.t, TEST[1])


def test_minifw_data_is_read_at_call_time(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINIFW_DATA", str(tmp_path / "env"))
    Tiny.download(mirrors=[server.serve("good", SERVED)], progress=False)
    assert listing(tmp_path / "env" / "tiny") == GZ_NAMES


def test_root_argument_beats_minifw_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIFW_DATA", str(tmp_path / "env"))
    assert cache_folder(TINY_SPEC, tmp_path / "arg") == tmp_path / "arg" / "tiny"
    assert cache_folder(TINY_SPEC) == tmp_path / "env" / "tiny"


def test_default_cache_is_under_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MINIFW_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_folder(MNIST.spec()) == tmp_path / ".cache" / "minifw" / "mnist"


@pytest.mark.parametrize(
    ("mirrors", "problem"),
    [
        ("http://127.0.0.1/mnist/", "mirrors must be a list of base URLs"),
        (3, "mirrors must be a list of base URLs"),
        ([""], r"mirrors\[0\] must be a non-empty URL string .*, got mirrors\[0\]=''"),
        ([None], r"mirrors\[0\] must be a non-empty URL string .*, got mirrors\[0\]=None"),
        (["127.0.0.1/mnist/"], r"got mirrors\[0\]='127.0.0.1/mnist/' \(no scheme"),
    ],
)
def test_mirrors_must_be_a_list_of_urls(tmp_path: Path, mirrors: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Tiny.download(tmp_path, mirrors, progress=False)  # type: ignore[arg-type]
    assert listing(tmp_path) == []


def test_a_mirror_without_trailing_slash_works(server: LocalServer, tmp_path: Path) -> None:
    mirror = server.serve("good", SERVED).rstrip("/")
    assert len(Tiny.download(tmp_path, [mirror], progress=False).train) == 30


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_goes_to_a_terminal_stderr_only_when_asked(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, progress: bool
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    Tiny.download(tmp_path, [server.serve("good", SERVED)], progress=progress)
    assert (TRAIN_IMAGES in terminal.getvalue()) is progress


def test_an_interrupt_after_the_transfer_still_removes_the_temporary_file(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import minifw.data.download as download

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(download._Transfer, "finish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Tiny.download(tmp_path, [server.serve("good", SERVED)], progress=False)
    assert listing(tmp_path / "tiny") == []


@pytest.mark.parametrize("deadline", [None, 60, 0.5e3])
def test_a_deadline_that_is_not_reached_changes_nothing(
    server: LocalServer, tmp_path: Path, deadline: float | None
) -> None:
    ds = Tiny.download(tmp_path, [server.serve("good", SERVED)], progress=False, deadline=deadline)
    assert len(ds.train) == 30
    assert listing(tmp_path / "tiny") == GZ_NAMES


def test_a_failing_mirror_is_cut_off_and_the_next_one_used(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/endless/" + TRAIN_IMAGES] = Reply(b"", forever=bytes(1 << 16))
    good = server.serve("good", SERVED)
    ds = Tiny.download(tmp_path, [server.mirror("endless"), good], progress=False)
    assert len(ds.train) == 30
    assert listing(tmp_path / "tiny") == GZ_NAMES
