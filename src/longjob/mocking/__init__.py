"""State machine tests with AWS's mock configuration files, on the local engine."""

from longjob.mocking.config import MockConfig, MockConfigError, load_mock_config
from longjob.mocking.runner import CaseResult, MockRunner, run_test_case

__all__ = [
    "CaseResult",
    "MockConfig",
    "MockConfigError",
    "MockRunner",
    "load_mock_config",
    "run_test_case",
]
