"""The local engine: a real ASL interpreter with ECS tasks run on this machine.

Importing it loads moto; keep it out of start-up paths that do not run workflows.
"""

# Where the local stack "is": one fixed account, region and stack name, so every ARN a
# local run makes is stable from run to run.
ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = "longjob-local"

# Before anything imports moto's engine: its Batch integration loads on first use only.
from longjob.engine import deferred_imports as _deferred_imports  # noqa: E402

_deferred_imports.defer_batch()
