"""The fused recurrent step turns oneDNN off around itself; the switch is the process's, so two
threads using it at once (a service's model thread beside the main thread) must leave it as they
found it, whatever order they leave in."""

from __future__ import annotations

import threading

import torch

from seqlab.nn.recurrent_fused import _without_onednn


def test_interleaved_users_leave_onednn_as_they_found_it() -> None:
    assert torch.backends.mkldnn.enabled
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with _without_onednn():
            first_in.set()
            second_in.wait(5)
            seen["first"] = torch.backends.mkldnn.enabled
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with _without_onednn():
            second_in.set()
            first_out.wait(5)  # the first leaves while the second is still inside
            seen["second, after the first left"] = torch.backends.mkldnn.enabled

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"first": False, "second, after the first left": False}
    assert torch.backends.mkldnn.enabled  # restored once the last user left


def test_a_switch_found_off_stays_off() -> None:
    torch._C._set_mkldnn_enabled(False)
    try:
        with _without_onednn():
            assert not torch.backends.mkldnn.enabled
        assert not torch.backends.mkldnn.enabled
    finally:
        torch._C._set_mkldnn_enabled(True)
