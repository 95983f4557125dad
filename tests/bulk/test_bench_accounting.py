"""bench/load.py's CPU accounting of a process tree (a gunicorn master and its workers): a
worker recycled or started between the two samples must neither vanish nor turn the web
CPU negative (issue 16: /healthz once showed -1.91 ms per request)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench._harness import CpuSample, cpu_between, cpu_sample


def test_workers_alive_at_both_samples_count_their_difference():
    a = CpuSample(own=1.0, reaped=0.0, children={10: 5.0, 11: 7.0})
    b = CpuSample(own=1.5, reaped=0.0, children={10: 6.0, 11: 9.0})
    assert cpu_between(a, b) == 0.5 + 1.0 + 2.0


def test_a_recycled_worker_counts_only_what_it_used_after_the_first_sample():
    """Worker 10 had used 50 s when the phase began, used 0.4 s more and exited (the master
    reaped its 50.4 s); its replacement 12 started in the phase and used 0.3 s."""
    a = CpuSample(own=2.0, reaped=100.0, children={10: 50.0, 11: 40.0})
    b = CpuSample(own=2.0, reaped=150.4, children={11: 40.5, 12: 0.3})
    used = cpu_between(a, b)
    assert abs(used - (0.4 + 0.5 + 0.3)) < 1e-9
    # What summing the live children at each end gave: the recycled worker's CPU vanished.
    assert sum(b.children.values()) - sum(a.children.values()) < 0


def test_a_real_tree_whose_child_exits_between_samples_is_not_negative():
    """A master whose child burns CPU and exits (reaped) between the samples."""
    # Unbuffered reads of one byte each: the two processes share the pipe.
    script = (
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.read(0, 1)\n"
        "    t = time.process_time()\n"
        "    while time.process_time() - t < 0.2: pass\n"
        "    os._exit(0)\n"
        "os.read(0, 1)\n"
        "os.waitpid(pid, 0)\n"
        "print('reaped', flush=True)\n"
        "os.read(0, 1)\n"
    )
    master = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert master.stdin is not None and master.stdout is not None
    try:
        # Wait until the fork happened (the child shows up under the master).
        while not cpu_sample(master.pid).children:
            os.sched_yield()
        a = cpu_sample(master.pid)
        master.stdin.write("ab")  # one byte for the child, one for the master
        master.stdin.flush()
        assert master.stdout.readline().strip() == "reaped"
        b = cpu_sample(master.pid)
        assert not b.children  # the child is gone: its CPU is in the master's reaped times
        assert b.reaped > a.reaped
        assert cpu_between(a, b) >= 0
        assert cpu_between(a, b) >= b.reaped - a.reaped - sum(a.children.values())
    finally:
        master.stdin.close()
        master.wait()


def test_a_process_that_is_gone_samples_as_nothing():
    assert cpu_sample(None) == CpuSample()
    assert cpu_between(CpuSample(), CpuSample()) == 0
