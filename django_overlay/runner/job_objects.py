"""
Windows job objects, the counterpart of a POSIX process group for
process_groups.py: a worker joins a job of its own before its first test, and
every process it starts from then on is in the job too, whatever its parent
does later (a grandchild whose parent exited stays in it). The parent can
list the job's processes and end them all at once.

Through ctypes on kernel32 rather than a library: pywin32's win32job has
these calls, but it is a Windows-only dependency of some 10 MB for five
functions; psutil has no job objects (and lists descendants by parent pid,
which loses a grandchild whose parent has exited).

Windows only: the module loads kernel32 when imported.
"""

import ctypes
import multiprocessing.context
from ctypes import wintypes

kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
ntdll = ctypes.WinDLL("ntdll")

# JOBOBJECTINFOCLASS values.
BASIC_ACCOUNTING_INFORMATION = 1
BASIC_PROCESS_ID_LIST = 3
EXTENDED_LIMIT_INFORMATION = 9
# A process that asks to leave the job (CREATE_BREAKAWAY_FROM_JOB) may, as a
# POSIX process may leave its group: without this, its CreateProcess fails.
JOB_OBJECT_LIMIT_BREAKAWAY_OK = 0x00000800
# The job's processes end when its last handle closes: with the parent too,
# when it dies before it could end them.
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
# PROCESSINFOCLASS: the command line as a UNICODE_STRING (Windows 8.1 and later).
PROCESS_COMMAND_LINE_INFORMATION = 60
ERROR_MORE_DATA = 234
# The exit code of processes the job ends, as TerminateProcess gives.
ENDED_EXIT_CODE = 1


class JobBasicLimitInformation(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", wintypes.LARGE_INTEGER),
        ("PerJobUserTimeLimit", wintypes.LARGE_INTEGER),
        ("LimitFlags", wintypes.DWORD),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", wintypes.DWORD),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", wintypes.DWORD),
        ("SchedulingClass", wintypes.DWORD),
    ]


class IoCounters(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_ulonglong)
        for name in (
            "ReadOperationCount",
            "WriteOperationCount",
            "OtherOperationCount",
            "ReadTransferCount",
            "WriteTransferCount",
            "OtherTransferCount",
        )
    ]


class JobExtendedLimitInformation(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", JobBasicLimitInformation),
        ("IoInfo", IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


class JobBasicAccountingInformation(ctypes.Structure):
    _fields_ = [
        ("TotalUserTime", wintypes.LARGE_INTEGER),
        ("TotalKernelTime", wintypes.LARGE_INTEGER),
        ("ThisPeriodTotalUserTime", wintypes.LARGE_INTEGER),
        ("ThisPeriodTotalKernelTime", wintypes.LARGE_INTEGER),
        ("TotalPageFaultCount", wintypes.DWORD),
        ("TotalProcesses", wintypes.DWORD),
        ("ActiveProcesses", wintypes.DWORD),
        ("TotalTerminatedProcesses", wintypes.DWORD),
    ]


def process_id_list(capacity):
    """JOBOBJECT_BASIC_PROCESS_ID_LIST, with room for capacity ids."""

    class JobBasicProcessIdList(ctypes.Structure):
        _fields_ = [
            ("NumberOfAssignedProcesses", wintypes.DWORD),
            ("NumberOfProcessIdsInList", wintypes.DWORD),
            ("ProcessIdList", ctypes.c_size_t * capacity),
        ]

    return JobBasicProcessIdList()


class UnicodeString(ctypes.Structure):
    _fields_ = [
        ("Length", wintypes.USHORT),
        ("MaximumLength", wintypes.USHORT),
        ("Buffer", wintypes.LPWSTR),
    ]


def _check(result):
    if not result:
        raise ctypes.WinError(ctypes.get_last_error())
    return result


kernel32.CreateJobObjectW.argtypes = [wintypes.LPVOID, wintypes.LPCWSTR]
kernel32.CreateJobObjectW.restype = wintypes.HANDLE
kernel32.SetInformationJobObject.argtypes = [
    wintypes.HANDLE,
    ctypes.c_int,
    wintypes.LPVOID,
    wintypes.DWORD,
]
kernel32.QueryInformationJobObject.argtypes = [
    wintypes.HANDLE,
    ctypes.c_int,
    wintypes.LPVOID,
    wintypes.DWORD,
    wintypes.LPDWORD,
]
kernel32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
kernel32.TerminateJobObject.argtypes = [wintypes.HANDLE, wintypes.UINT]
kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
kernel32.GetCurrentProcess.restype = wintypes.HANDLE
kernel32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
kernel32.OpenProcess.restype = wintypes.HANDLE
kernel32.QueryFullProcessImageNameW.argtypes = [
    wintypes.HANDLE,
    wintypes.DWORD,
    wintypes.LPWSTR,
    wintypes.LPDWORD,
]
ntdll.NtQueryInformationProcess.argtypes = [
    wintypes.HANDLE,
    ctypes.c_int,
    wintypes.LPVOID,
    wintypes.ULONG,
    wintypes.PULONG,
]
ntdll.NtQueryInformationProcess.restype = wintypes.LONG


class Job:
    """
    A job object. Made in the parent and sent to the worker as it is spawned
    (the handle is duplicated into the new process, as multiprocessing does
    for the worker's pipe), so that the worker joins it itself, before
    anything of its own runs: assigned from the parent after start(), the
    worker could start a process before it was in the job.
    """

    def __init__(self, handle=None):
        if handle is None:
            handle = _check(kernel32.CreateJobObjectW(None, None))
            limits = JobExtendedLimitInformation()
            limits.BasicLimitInformation.LimitFlags = (
                JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_BREAKAWAY_OK
            )
            _check(
                kernel32.SetInformationJobObject(
                    handle, EXTENDED_LIMIT_INFORMATION, ctypes.byref(limits), ctypes.sizeof(limits)
                )
            )
        self.handle = handle

    def __reduce__(self):
        popen = multiprocessing.context.get_spawning_popen()
        if popen is None:
            raise TypeError("a job object is sent only to a process being spawned")
        return Job, (popen.duplicate_for_child(self.handle),)

    def join(self):
        """Put the calling process in the job."""
        _check(kernel32.AssignProcessToJobObject(self.handle, kernel32.GetCurrentProcess()))

    def processes_started(self):
        """How many processes have been in the job, ended ones included."""
        information = JobBasicAccountingInformation()
        _check(
            kernel32.QueryInformationJobObject(
                self.handle,
                BASIC_ACCOUNTING_INFORMATION,
                ctypes.byref(information),
                ctypes.sizeof(information),
                None,
            )
        )
        return information.TotalProcesses

    def pids(self):
        """The ids of the job's live processes."""
        capacity = 16
        while True:
            listed = process_id_list(capacity)
            if kernel32.QueryInformationJobObject(
                self.handle,
                BASIC_PROCESS_ID_LIST,
                ctypes.byref(listed),
                ctypes.sizeof(listed),
                None,
            ):
                return list(listed.ProcessIdList[: listed.NumberOfProcessIdsInList])
            error = ctypes.get_last_error()
            if error != ERROR_MORE_DATA:
                raise ctypes.WinError(error)
            # More processes joined meanwhile than there was room for.
            capacity = max(capacity * 2, listed.NumberOfAssignedProcesses)

    def end(self):
        """End the job's processes, and let go of it."""
        kernel32.TerminateJobObject(self.handle, ENDED_EXIT_CODE)
        kernel32.CloseHandle(self.handle)
        self.handle = None


def command_line(pid):
    """A process's command line, its executable's path where that cannot be read, or ''."""
    process = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not process:
        # It ended meanwhile, or is not ours to look at.
        return ""
    try:
        return _command_line(process) or _image_name(process)
    finally:
        kernel32.CloseHandle(process)


def _command_line(process):
    size = wintypes.ULONG(0)
    ntdll.NtQueryInformationProcess(
        process, PROCESS_COMMAND_LINE_INFORMATION, None, 0, ctypes.byref(size)
    )
    if not size.value:
        return ""
    buffer = ctypes.create_string_buffer(size.value)
    status = ntdll.NtQueryInformationProcess(
        process, PROCESS_COMMAND_LINE_INFORMATION, buffer, size, ctypes.byref(size)
    )
    if status < 0:
        return ""
    text = ctypes.cast(buffer, ctypes.POINTER(UnicodeString)).contents
    return ctypes.wstring_at(text.Buffer, text.Length // 2) if text.Buffer else ""


def _image_name(process):
    buffer = ctypes.create_unicode_buffer(32768)
    size = wintypes.DWORD(len(buffer))
    if not kernel32.QueryFullProcessImageNameW(process, 0, buffer, ctypes.byref(size)):
        return ""
    return buffer.value
