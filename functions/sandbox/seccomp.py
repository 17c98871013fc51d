"""A small seccomp-BPF filter for sandboxes: refuse the system calls a function never needs.

Built by hand (no libseccomp binding needed) and handed to bubblewrap with `--seccomp FD`.
Denied calls fail with EPERM, so the function sees a clear `PermissionError`. Only x86-64 and
aarch64 are known; elsewhere no filter is installed and `available()` says so.
"""

from __future__ import annotations

import errno
import platform
import struct

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000

_ARCHES = {
    # machine: (AUDIT_ARCH, syscall numbers)
    "x86_64": (
        0xC000003E,
        {
            "ptrace": 101,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "mount": 165,
            "umount2": 166,
            "pivot_root": 155,
            "chroot": 161,
            "unshare": 272,
            "setns": 308,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "bpf": 321,
            "perf_event_open": 298,
            "userfaultfd": 323,
            "kexec_load": 246,
            "init_module": 175,
            "finit_module": 313,
            "delete_module": 176,
            "pidfd_open": 434,
            "pidfd_send_signal": 424,
            "pidfd_getfd": 438,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "open_by_handle_at": 304,
            "name_to_handle_at": 303,
            "acct": 163,
            "swapon": 167,
            "swapoff": 168,
            "reboot": 169,
            "syslog": 103,
            "personality": 135,
        },
        {"kill": 62, "tkill": 200, "tgkill": 234},
    ),
    "aarch64": (
        0xC00000B7,
        {
            "ptrace": 117,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "mount": 40,
            "umount2": 39,
            "pivot_root": 41,
            "chroot": 51,
            "unshare": 97,
            "setns": 268,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "bpf": 280,
            "perf_event_open": 241,
            "userfaultfd": 282,
            "kexec_load": 104,
            "init_module": 105,
            "finit_module": 273,
            "delete_module": 106,
            "pidfd_open": 434,
            "pidfd_send_signal": 424,
            "pidfd_getfd": 438,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "open_by_handle_at": 265,
            "name_to_handle_at": 264,
            "acct": 89,
            "swapon": 224,
            "swapoff": 225,
            "reboot": 142,
            "syslog": 116,
            "personality": 92,
        },
        {"kill": 129, "tkill": 130, "tgkill": 131},
    ),
}


def available() -> bool:
    return platform.machine() in _ARCHES


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program() -> bytes:
    """The compiled filter. Signals to PID 1 (the sandbox's init) are refused as well, so that
    "kill the parent" fails visibly instead of being silently ignored by the kernel."""
    arch, denied, signalling = _ARCHES[platform.machine()]
    eperm = _ERRNO | errno.EPERM
    code = [
        _insn(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _insn(_JEQ_K, 1, 0, arch),
        _insn(_RET_K, 0, 0, _KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if platform.machine() == "x86_64":  # the x32 ABI aliases every call above this bit
        code += [_insn(_JGE_K, 0, 1, 0x40000000), _insn(_RET_K, 0, 0, _KILL_PROCESS)]
    for number in denied.values():
        code += [_insn(_JEQ_K, 0, 1, number), _insn(_RET_K, 0, 0, eperm)]
    for number in signalling.values():
        # if nr == number and low word of args[0] == 1 and high word == 0: EPERM
        code += [
            _insn(_JEQ_K, 0, 6, number),
            _insn(_LD_W_ABS, 0, 0, 16),
            _insn(_JEQ_K, 0, 3, 1),
            _insn(_LD_W_ABS, 0, 0, 20),
            _insn(_JEQ_K, 0, 1, 0),
            _insn(_RET_K, 0, 0, eperm),
            _insn(_LD_W_ABS, 0, 0, 0),  # reload nr for the next comparison
        ]
    code.append(_insn(_RET_K, 0, 0, _ALLOW))
    return b"".join(code)


def denied_calls() -> list[str]:
    if not available():
        return []
    _, denied, signalling = _ARCHES[platform.machine()]
    return [*denied, *(f"{name}(1, …)" for name in signalling)]
