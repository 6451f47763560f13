"""Pipeline executions (PageUp's dpo on the run ledger): executions, their steps and
the checksums of each step's model files, driven by ``etlctl executions``.

An external orchestrator (a shell script) opens an execution, records a step's model
files, asks which models changed since the last completed execution, and completes
the step and the execution. The tables live in the run ledger (``state.url``).
"""
