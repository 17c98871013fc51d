"""A small seccomp-BPF filter for sandboxes: refuse the system calls a function never needs.

Built by hand (no libseccomp binding needed at run time) and handed to bubblewrap with
`--seccomp FD`. Denied calls fail with EPERM, so the function sees a clear `PermissionError`;
`clone3` fails with ENOSYS, as container runtimes answer it, so the C library falls back to
`clone`, whose namespace flags are refused here (a filter cannot look into clone3's argument
struct). Only x86-64 and aarch64 are known; elsewhere no filter is installed and `available()`
says so. The syscall numbers are checked against libseccomp's tables in
tests/functions/test_seccomp.py, and every denied call is tried from inside a sandbox there.
"""

from __future__ import annotations

import errno
import platform
import struct

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000

# Calls added since Linux 5.0 have one number on every architecture.
_UNIFIED = {
    "open_tree": 428,  # the new mount API: mount without mount(2)
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "process_madvise": 440,
    "mount_setattr": 442,
    "quotactl_fd": 443,
}
# Namespace flags of clone(2) (CLONE_NEWTIME is left out: in clone's flags that bit belongs to the
# exit signal). Refused even though the unprivileged uid could create none of them but a user
# namespace, which bwrap's --disable-userns already forbids: two locks, not one.
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
CLONE3 = 435

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
            "kexec_file_load": 320,
            "quotactl": 179,
            "kcmp": 312,
            "fanotify_init": 300,
            "lookup_dcookie": 212,
            "vhangup": 153,
            "iopl": 172,
            "ioperm": 173,
            "uselib": 134,
            "init_module": 175,
            "finit_module": 313,
            "delete_module": 176,
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
        56,  # clone
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
            "kexec_file_load": 294,
            "quotactl": 60,
            "kcmp": 272,
            "fanotify_init": 262,
            "lookup_dcookie": 18,
            "vhangup": 58,
            "init_module": 105,
            "finit_module": 273,
            "delete_module": 106,
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
        220,  # clone
    ),
}


def available() -> bool:
    return platform.machine() in _ARCHES


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def denied_numbers() -> dict[str, int]:
    """Every call refused with EPERM outright, by name, with its number on this machine."""
    _, denied, _, _ = _ARCHES[platform.machine()]
    return {**denied, **_UNIFIED}


def program() -> bytes:
    """The compiled filter. Signals to PID 1 (the sandbox's init) are refused as well, so that
    "kill the parent" fails visibly instead of being silently ignored by the kernel."""
    arch, _, signalling, clone = _ARCHES[platform.machine()]
    eperm = _ERRNO | errno.EPERM
    code = [
        _insn(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _insn(_JEQ_K, 1, 0, arch),
        _insn(_RET_K, 0, 0, _KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if platform.machine() == "x86_64":  # the x32 ABI aliases every call above this bit
        code += [_insn(_JGE_K, 0, 1, 0x40000000), _insn(_RET_K, 0, 0, _KILL_PROCESS)]
    for number in denied_numbers().values():
        code += [_insn(_JEQ_K, 0, 1, number), _insn(_RET_K, 0, 0, eperm)]
    code += [_insn(_JEQ_K, 0, 1, CLONE3), _insn(_RET_K, 0, 0, _ERRNO | errno.ENOSYS)]
    # clone(flags, …) with any namespace flag in the low word of args[0]: EPERM
    code += [
        _insn(_JEQ_K, 0, 4, clone),
        _insn(_LD_W_ABS, 0, 0, 16),
        _insn(_JSET_K, 0, 1, CLONE_NAMESPACE_FLAGS),
        _insn(_RET_K, 0, 0, eperm),
        _insn(_LD_W_ABS, 0, 0, 0),  # reload nr
    ]
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
