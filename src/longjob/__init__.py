"""longjob: long-running, multi-stage maintenance jobs on AWS Fargate and Step Functions."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("longjob")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
