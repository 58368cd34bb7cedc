"""Run a workflow script or CLI command: log to a file and the screen, bad input as one line."""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from threadpoolctl import threadpool_limits

from voxelflow.errors import InputError

log = logging.getLogger("voxelflow")
# Failures of the machine, not of the code: said in one line naming the path, like bad input.
_ENVIRONMENT_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def setup_logging(log_path: str | Path | None = None) -> None:
    """Send voxelflow's log records to stderr and, when given, to `log_path`."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", handlers=handlers,
                        force=True)
    logging.captureWarnings(True)


def limit_threads(threads: int) -> None:
    """Hold this process to `threads` CPU threads: the BLAS and OpenMP pools, and torch's when it is loaded.

    A Snakemake `script:` job is not limited by its rule's `threads` otherwise (only `shell:` jobs get
    OMP_NUM_THREADS), so two jobs would each use every core, and a trained model would depend on the
    machine's core count rather than on the rule.
    """
    threadpool_limits(threads)
    torch = sys.modules.get("torch")  # never imported here: the core stays torch-free
    if torch is not None:
        torch.set_num_threads(threads)


def run_reporting_errors(task: Callable[[], None], log_path: str | Path | None = None,
                         threads: int | None = None) -> None:
    """Run `task` (with at most `threads` CPU threads, when given); on InputError, or a full disk or denied
    permission, log one line and exit with status 1.

    Any other exception is a bug: it is logged with its traceback (so the log file
    holds it) and raised again.
    """
    setup_logging(log_path)
    if threads:
        limit_threads(threads)
    try:
        task()
    except InputError as err:
        log.error("error: %s", err)
        sys.exit(1)
    except OSError as err:
        if err.errno not in _ENVIRONMENT_ERRORS:
            log.exception("unexpected failure")
            raise
        log.error("error: %s%s", f"{err.filename}: " if err.filename else "", err.strerror or err)
        sys.exit(1)
    except Exception:
        log.exception("unexpected failure")
        raise


@contextmanager
def training_checkpoint(output: str | Path) -> Iterator[Path]:
    """The path of the training checkpoint of the job that writes `output` (a file or folder): `<output
    name>.checkpoint.pt` beside it. Kept when the job fails, so that rerunning it resumes; deleted once the body
    has finished (the model is saved by then)."""
    output = Path(output)
    path = output.with_name(f"{output.name.split('.')[0]}.checkpoint.pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    yield path
    path.unlink(missing_ok=True)
