"""Exceptions of the data layer and the user-facing messages they carry.

The message templates are module constants so that callers and tests can rely on their wording.
"""

from __future__ import annotations

MIRROR_ENV = "FAIRBENCH_DATA_MIRROR"
DATA_DIR_ENV = "FAIRBENCH_DATA_DIR"
BASE_URL_ENV = "FAIRBENCH_DATA_BASE_URL"
SPECS_ENV = "FAIRBENCH_DATA_SPECS"

SPEC_INVALID = "dataset spec {path}: key '{key}': {problem}"
DUPLICATE_NAME = "{kind} {name!r} is already registered (from {origin}); choose another name"
LOCAL_MISSING = "{dataset}: local source file {path} does not exist (key 'source.path' of {origin})"
LOCAL_CHANGED = (
    "{dataset}: local source file {path} has sha256 {actual}, but key 'source.sha256' of {origin} pins {expected}; "
    "it was not used. If the file is right (you edited it), paste into the spec: sha256: {actual}"
)
UNPINNED = (
    "{dataset}: key 'source.sha256' of {origin} is missing; {path} has sha256 {actual}. "
    "If that is the right file, paste into the spec: sha256: {actual} (nothing was used or cached)"
)

UNKNOWN_SETTING = "unknown setting {name!r}; valid settings: {valid}"
UNKNOWN_DATASET = "unknown dataset {name!r}; valid datasets: {valid}"

CHECKSUM_MISMATCH = (
    "checksum mismatch for {file} (from {source}): expected sha256 {expected}, got {actual}. "
    "The file was not used and nothing was cached. {fix}"
)
CHECKSUM_FIX_DOWNLOAD = (
    "Re-download it (fairbench data fetch {dataset}), or check that the source still serves the original file."
)
CHECKSUM_FIX_MIRROR = "Check the mirror copy: it must be byte-identical to the canonical file (see docs/datasets.md §2)."
CHECKSUM_FIX_DECLARED = (
    "If the source serves a new version on purpose, check it and paste into key 'source.sha256' of {origin}: "
    "sha256: {actual}"
)
CACHE_CORRUPTED = (
    "cached file {path} is corrupted: expected sha256 {expected}, got {actual}. "
    "Delete that one file and fetch again (fairbench data fetch {dataset}); no other dataset's file is kept there."
)
MIRROR_MISSING = (
    "{dataset}: raw file not found in the mirror {mirror}; expected {expected}. "
    "Copy the file there, or unset " + MIRROR_ENV + " to download it."
)
NO_NETWORK = (
    "{dataset}: could not download {what} ({details}). Without network access, set "
    + MIRROR_ENV
    + " (or pass mirror=...) to a folder that holds {relpath}."
)
HTTP_ERROR = "{dataset}: download of {url} failed with HTTP {status} {reason}."
HTML_INSTEAD_OF_DATA = (
    "{dataset}: {url} returned an HTML page instead of the data file (a login, error or "
    "redirect page); nothing was cached."
)
TRUNCATED = (
    "{dataset}: download of {url} was cut short: got {got} of {expected} bytes; nothing was cached. Try again."
)
ZIP_MEMBER_MISSING = "{dataset}: {url} does not contain the member {member!r}."
BAD_ZIP = "{dataset}: {url} is not a valid zip archive ({reason})."
SOURCE_SKIPPED = "skipping a download that failed its checksum, trying the next source: {error}"
ALL_SOURCES_FAILED = "{dataset}: no source of {what} could be used ({details})."

PREPARED_MISSING = (
    "prepared data for {setting!r} not found: {path} does not exist. "
    "Create it with: fairbench data prepare {setting} --prepared {out_dir}"
)
PREPARED_STALE = (
    "prepared data for {setting!r} in {out_dir} was built from another spec or recipe (digest {found}, now "
    "{expected}: the spec, its raw file or the encoding changed since). "
    "Recreate it with: fairbench data prepare {setting} --prepared {out_dir}"
)
PREPARED_MISMATCH = (
    "prepared data for {setting!r} in {out_dir} is inconsistent ({detail}). "
    "Recreate it with: fairbench data prepare {setting} --prepared {out_dir}"
)
SPLIT_INVALID = "split {split!r} of {setting!r} does not fit the frame: {detail}"
FRAME_MISMATCH = "{dataset}: the rebuilt frame does not match the reference ({detail}); is the raw file the right one?"


class DataError(Exception):
    """Base class of every error raised by :mod:`fairbench.data`."""


class UnknownSettingError(DataError, ValueError):
    """A setting or dataset name that the registry does not know."""


class SpecError(DataError, ValueError):
    """A dataset spec that cannot be used; the message names the file and the key."""


class DataUnavailableError(DataError):
    """A raw file could not be obtained (no network, missing mirror file, HTTP error...)."""


class ChecksumError(DataError):
    """A raw file does not have its pinned sha256; it is never used or cached."""


class PreparedDataError(DataError):
    """Prepared artefacts are missing or do not match their manifest."""


class SplitError(DataError):
    """A split does not fit its frame, or cannot be drawn."""


class FrameError(DataError):
    """A rebuilt frame does not have the documented shape, labels or groups."""


class DataWarning(UserWarning):
    """A usable but imperfect input (e.g. the titanic CSV with rounded ages)."""
