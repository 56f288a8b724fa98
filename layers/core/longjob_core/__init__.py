"""Job document v1: the schema, its validation and the plan the state machine runs.

Shared by the `longjob` CLI and the Lambda functions (shipped to them as a layer), so the
command line and the deployed workflow accept and plan exactly the same documents.
"""
