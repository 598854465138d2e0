"""Import errors: which are worth a retry, decided by their cause.

Permanent errors (bad input, a contract broken, a path no system can open) fail an import
at once, without retries, with a message naming the problem; transient ones (the CTS or
the object store unavailable, throttling, a commit conflict, a broken connection) are
retried by the asset's ``RetryPolicy``. The type alone is not enough: an ``OSError`` is
transient when the disk or network hiccups (``EIO``, ``ECONNRESET``) but permanent when
the path cannot exist (``ENAMETOOLONG``, ``ENOTDIR``); an S3 ``ClientError`` is transient
for ``SlowDown``/5xx and permanent for ``AccessDenied`` or ``KeyTooLongError``. Errors of
unknown cause are retried (the retry policy bounds them).
"""

from __future__ import annotations

import errno

from platform_assets.cts.checksums import ChecksumMismatch
from platform_assets.cts.importers.base import NoReportFiles, OutsideOutputDir, UnknownOutputFile
from platform_assets.cts.strict_cast import ReportFormatError, StrictCastError, UnsupportedColumnType
from resources.cts.client import CtsError, CtsUnavailable
from resources.cts.outputs import CtsOutputNotFound, InvalidOutputPath, OutputTooLarge
from resources.cts.text import Redactor, clip


class ImportRejected(ValueError):
    """The job or the parsed rows break the importer's contract."""


PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    ChecksumMismatch,
    StrictCastError,
    ReportFormatError,
    NoReportFiles,
    CtsOutputNotFound,
    UnicodeError,
    UnknownOutputFile,
    InvalidOutputPath,
    OutsideOutputDir,
    OutputTooLarge,
    UnsupportedColumnType,
    ImportRejected,
)

# a disk, a network or a server having a bad moment
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN,
        errno.EINTR,
        errno.EIO,
        errno.ETIMEDOUT,
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ENETRESET,
        errno.EPIPE,
        errno.ENOBUFS,
        errno.ENOMEM,
        errno.EBUSY,
        errno.ESTALE,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOSPC,
    }
)
TRANSIENT_S3_CODES = frozenset(
    {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "OperationAborted",
        "RequestLimitExceeded",
    }
)
FAILURE_TEXT_CHARS = 4_000  # of an error message in a step failure (after redaction)


def _s3_error_is_transient(error: BaseException) -> bool | None:
    """For botocore errors: transient or not; None for anything else."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:  # pragma: no cover - botocore ships with dagster-aws
        return None
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in TRANSIENT_S3_CODES or int(status) >= 500 or int(status) == 429
    if isinstance(error, NoCredentialsError):
        return False  # configuration: no retry fixes it
    if isinstance(error, BotoCoreError):
        return True  # connection closed, endpoint unreachable, read timeout...
    return None


def is_permanent(error: BaseException) -> bool:
    """Retrying cannot fix ``error`` (see the module docstring)."""
    if isinstance(error, CtsUnavailable):
        return False
    if isinstance(error, (CtsError, *PERMANENT_ERRORS)):
        return True
    s3 = _s3_error_is_transient(error)
    if s3 is not None:
        return not s3
    if isinstance(error, (TimeoutError, ConnectionError)):
        return False
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno not in TRANSIENT_ERRNOS
    return False


def failure_text(error: BaseException, redact: Redactor | None = None) -> str:
    """``Type: message`` of an import error, redacted, then clipped to a few KB."""
    return clip(f"{type(error).__name__}: {error}", FAILURE_TEXT_CHARS, redact=redact)
