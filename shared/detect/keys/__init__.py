"""Key intelligence: which signing keys are compromised, and which each issuer publishes today."""
