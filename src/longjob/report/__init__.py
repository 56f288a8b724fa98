"""How a run reads: its history, its tasks' log lines as they arrive, and its report."""
