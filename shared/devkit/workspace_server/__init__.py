"""A local HTTP(S) server speaking the Log Analytics query API over the embedded workspace."""
