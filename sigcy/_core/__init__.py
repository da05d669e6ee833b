"""sigcy's compiled core: memory safety and loops; user-facing validation lives above.

``_dispatch`` makes the process's one instruction-set decision; ``_pool`` holds reusable
memory; ``_elman`` the Elman recurrence loops (forward and backward); ``_step`` the output
losses and optimizer steps; ``_trainer`` the estimators' training step and epoch.
"""
