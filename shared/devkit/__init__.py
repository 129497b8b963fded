"""Developer kit: the tenant simulator, demo data, the demo and the local workspace server. Not deployed."""
