"""The ledger: cases, findings and scan checkpoints on Azure Table Storage (Azurite locally).

Every write is a read-modify-write guarded by the entity's ETag, retried on conflict, so scans that
run at the same time (overlapping timers, a catch-up next to a regular run) converge on one case per
principal and one record per finding. Modules import ``azure.data.tables`` inside functions only.
"""
