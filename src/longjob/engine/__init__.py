"""The local engine: a real ASL interpreter with ECS tasks run on this machine.

Importing it loads moto; keep it out of start-up paths that do not run workflows.
"""
