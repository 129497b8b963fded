"""Cases: findings grouped per compromised principal (or forged token), with a recorded lifecycle.

The pure parts live here (who a finding is about, how observations merge, which state may follow
which); storing them is :mod:`shared.ledger`'s job, so the rules of grouping and merging are tested
without storage and hold the same for every backend.
"""
